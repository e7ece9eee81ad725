#!/bin/sh
# install-files: meson install --destdir puts every file where the system
# looks for it, with sane modes; the library exports only vault_* under its
# soname; the compiled-in defaults are the installed paths; a second
# install keeps an edited /etc/vault/vaultd.conf; the sysusers.d and
# tmpfiles.d files are accepted by systemd-sysusers and systemd-tmpfiles.
. "$(dirname "$0")/lib.sh"
need readelf binutils
need systemd-sysusers systemd
need systemd-tmpfiles systemd

D=$T/root
install_into "$D"

mode_is "$D$SBINDIR/vaultd" 755
mode_is "$D$SBINDIR/vault-keytool" 755
mode_is "$D$BINDIR/vaultctl" 755
mode_is "$D$INCLUDEDIR/vault/vault.h" 644
mode_is "$D$LIBDIR/pkgconfig/vaultclient.pc" 644
mode_is "$D$UNITDIR/vaultd.service" 644
mode_is "$D$UNITDIR/vaultd.socket" 644
mode_is "$D$SYSUSERSDIR/vault.conf" 644
mode_is "$D$TMPFILESDIR/vault.conf" 644
mode_is "$D$COMPLETIONDIR/vaultctl" 644
mode_is "$D$DOCDIR/vaultd.conf.example" 644
mode_is "$D$DOCDIR/policy.example" 644
mode_is "$D$SYSCONFDIR/vault/vaultd.conf" 644
[ -e "$D$SBINDIR/vaultctl" ] && fail "vaultctl belongs in $BINDIR, not $SBINDIR"
if [ "$HAVE_MANPAGES" = 1 ]; then
	for page in man8/vaultd.8 man5/vaultd.conf.5 man1/vaultctl.1 man8/vault-keytool.8 \
	    man5/vault-policy.5 man3/libvaultclient.3; do
		mode_is "$D$MANDIR/$page" 644
	done
fi

# The library: real file, soname link, development link; soname .so.0.
lib=$(ls "$D$LIBDIR"/libvaultclient.so.*.*.* 2>/dev/null | head -n 1)
[ -n "$lib" ] || fail "no libvaultclient.so.X.Y.Z in $D$LIBDIR"
mode_is "$lib" 755
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libvaultclient.so.0 ] || fail "soname is '$soname', not libvaultclient.so.0"
[ "$(readlink "$D$LIBDIR/libvaultclient.so.0")" = "$(basename "$lib")" ] ||
	fail "libvaultclient.so.0 does not point at $(basename "$lib")"
[ "$(readlink "$D$LIBDIR/libvaultclient.so")" = libvaultclient.so.0 ] ||
	fail "libvaultclient.so does not point at libvaultclient.so.0"
# Only the public API is exported (client/vault.syms).
others=$(readelf --dyn-syms -W "$lib" | awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' |
	sed 's/@.*//' | grep -v '^vault_' || true)
[ -z "$others" ] || fail "libvaultclient exports more than vault_*: $others"
readelf --dyn-syms -W "$lib" | grep -q ' vault_connect$' || fail "vault_connect is not exported"

# The compiled-in defaults are the installed paths.
"$D$SBINDIR/vaultd" --help | grep -qF "$SYSCONFDIR/vault/vaultd.conf" ||
	fail "vaultd --help does not name $SYSCONFDIR/vault/vaultd.conf"
"$D$BINDIR/vaultctl" --help | grep -qF "$SOCKET_PATH" ||
	fail "vaultctl --help does not name $SOCKET_PATH"
grep -q "^ExecStart=$SBINDIR/vaultd -c $SYSCONFDIR/vault/vaultd.conf\$" "$D$UNITDIR/vaultd.service" ||
	fail "vaultd.service does not start $SBINDIR/vaultd with $SYSCONFDIR/vault/vaultd.conf"
grep -q "^ListenStream=$SOCKET_PATH\$" "$D$UNITDIR/vaultd.socket" ||
	fail "vaultd.socket does not listen on $SOCKET_PATH"
# Without -c, vaultd reads the installed config and vaultctl connects to the
# installed socket (checked only where this host has neither, so that
# nothing of a real installation is read).
if [ ! -e "$SYSCONFDIR/vault/vaultd.conf" ]; then
	out=$("$D$SBINDIR/vaultd" --check 2>&1) && fail "vaultd --check without -c and without $SYSCONFDIR/vault/vaultd.conf succeeded"
	printf '%s\n' "$out" | grep -qF "$SYSCONFDIR/vault/vaultd.conf" ||
		fail "vaultd without -c did not try $SYSCONFDIR/vault/vaultd.conf: $out"
fi
if [ ! -e "$SOCKET_PATH" ]; then
	out=$(env -u VAULT_SOCKET "$D$BINDIR/vaultctl" ping 2>&1) && fail "vaultctl ping without a vaultd succeeded"
	printf '%s\n' "$out" | grep -qF "cannot connect to $SOCKET_PATH" ||
		fail "vaultctl without -s did not try $SOCKET_PATH: $out"
fi
# The installed configuration is one vaultd accepts (apart from the policy
# file it names, which the administrator writes).
grep -q "^file = $SYSCONFDIR/vault/policy.ini\$" "$D$SYSCONFDIR/vault/vaultd.conf" ||
	fail "the installed vaultd.conf does not name $SYSCONFDIR/vault/policy.ini"

# A second install keeps the administrator's vaultd.conf.
echo "# edited" >>"$D$SYSCONFDIR/vault/vaultd.conf"
install_into "$D"
tail -n 1 "$D$SYSCONFDIR/vault/vaultd.conf" | grep -qx "# edited" ||
	fail "a second meson install overwrote $SYSCONFDIR/vault/vaultd.conf"

mkdir -p "$D/etc"
# sysusers.d: the user and groups appear in the DESTDIR's own passwd and
# group files (--root never touches the host's).
systemd-sysusers --root="$D" "$D$SYSUSERSDIR/vault.conf" >"$T/sysusers.log" 2>&1 ||
	{ cat "$T/sysusers.log" >&2; fail "systemd-sysusers refused vault.conf"; }
grep -q '^vault:' "$D/etc/passwd" || fail "systemd-sysusers made no user vault"
grep -q '^vault:' "$D/etc/group" || fail "systemd-sysusers made no group vault"
grep -q '^vault-clients:' "$D/etc/group" || fail "systemd-sysusers made no group vault-clients"
# tmpfiles.d: parsed without a complaint (--root: under the DESTDIR only);
# giving the directories to vault needs root (CI runs as root).
if [ "$(id -u)" != 0 ]; then
	echo "install-files: everything above passed; the tmpfiles.d check needs root: SKIP"
	exit 77
fi
systemd-tmpfiles --root="$D" --create "$D$TMPFILESDIR/vault.conf" >"$T/tmpfiles.log" 2>&1 ||
	{ cat "$T/tmpfiles.log" >&2; fail "systemd-tmpfiles --create refused vault.conf"; }
[ -s "$T/tmpfiles.log" ] && { cat "$T/tmpfiles.log" >&2; fail "systemd-tmpfiles complained about vault.conf"; }
# The socket's directory root's, 0755 (vaultd.socket's DirectoryMode=);
# the state and key directories vault's, 0700.
rundir=$(dirname "$SOCKET_PATH")
mode_is "$D$rundir" 755
[ "$(stat -c %u:%g "$D$rundir")" = 0:0 ] || fail "$rundir is $(stat -c %u:%g "$D$rundir"), not root's"
vault_ids=$(grep '^vault:' "$D/etc/passwd" | cut -d: -f3,4)
for dir in $(sed -n 's/^d \([^ ]*\) 0700 vault vault -$/\1/p' "$D$TMPFILESDIR/vault.conf"); do
	mode_is "$D$dir" 700
	[ "$(stat -c %u:%g "$D$dir")" = "$vault_ids" ] ||
		fail "$dir is $(stat -c %u:%g "$D$dir"), not vault's ($vault_ids)"
	n=$((${n:-0} + 1))
done
[ "${n:-0}" = 2 ] || fail "tmpfiles.d/vault.conf makes ${n:-0} vault directories, not 2 (state, keys)"
echo "install-files: ok"
