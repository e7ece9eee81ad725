#!/bin/sh
# install-pkgconfig: a program outside the source tree (pc-client.c) builds
# with `cc $(pkg-config --cflags --libs vaultclient)` against the header and
# library installed in a DESTDIR (PKG_CONFIG_SYSROOT_DIR puts the DESTDIR
# before every -I and -L), loads that library (LD_LIBRARY_PATH, checked
# with ldd), and talks to the installed vaultd, started on temporary
# directories: ping, create, read.
. "$(dirname "$0")/lib.sh"
need pkg-config pkg-config
need cc gcc
need ldd libc-bin

D=$T/root
install_into "$D"
export PKG_CONFIG_PATH="$D$LIBDIR/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$D"
# Only the installed file: no vaultclient.pc of the host or the build tree.
export PKG_CONFIG_LIBDIR="$D$LIBDIR/pkgconfig:/usr/lib/$(gcc -print-multiarch)/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig"
flags=$(pkg-config --cflags --libs vaultclient) || fail "pkg-config does not know vaultclient"
echo "pkg-config --cflags --libs vaultclient: $flags"
case " $flags " in *" -I$D$INCLUDEDIR "*) ;; *) fail "--cflags lacks -I$D$INCLUDEDIR" ;; esac
case " $flags " in *" -L$D$LIBDIR "*) ;; *) fail "--libs lacks -L$D$LIBDIR" ;; esac

# A library built with sanitizers needs programs built with them (their
# runtime must come first): what any consumer of such a build does.
case "${SANITIZE:-none}" in none|'') ;; *) flags="-fsanitize=$SANITIZE $flags" ;; esac

mkdir "$T/src"
cp "$SOURCE_ROOT/tests/install/pc-client.c" "$T/src/"
# shellcheck disable=SC2086
(cd "$T/src" && cc -std=c11 -Wall -Werror -o pc-client pc-client.c $flags) ||
	fail "pc-client.c does not build against the installed library"
export LD_LIBRARY_PATH="$D$LIBDIR"
ldd "$T/src/pc-client" | grep -q "libvaultclient.so.0 => $D$LIBDIR/libvaultclient.so.0 " ||
	{ ldd "$T/src/pc-client" >&2; fail "pc-client does not load the installed libvaultclient"; }

# The installed vaultd on temporary paths.
vault_dir 1
"$D$SBINDIR/vaultd" --dev -c "$V/vaultd.conf" 2>"$V/vaultd.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
# Poll with a deadline: up to 30 s for the socket (a loaded machine).
i=0
until [ -S "$V/run/vaultd.sock" ]; do
	kill -0 "$pid" 2>/dev/null || { cat "$V/vaultd.log" >&2; fail "vaultd exited before listening"; }
	i=$((i + 1))
	[ $i -le 300 ] || { cat "$V/vaultd.log" >&2; fail "vaultd did not listen within 30 s"; }
	sleep 0.1
done
out=$(VAULT_SOCKET="$V/run/vaultd.sock" "$T/src/pc-client") ||
	{ cat "$V/vaultd.log" >&2; fail "pc-client failed against vaultd"; }
[ "$out" = "pc-client ok" ] || fail "pc-client printed '$out'"
kill -TERM "$pid"
wait "$pid" || { cat "$V/vaultd.log" >&2; fail "vaultd did not stop cleanly (exit $?)"; }
trap 'rm -rf "$T"' EXIT
echo "install-pkgconfig: ok"
