#!/bin/sh
# install-units: the installed vaultd.service and vaultd.socket pass
# systemd-analyze verify without a single message (no PID 1 needed), and
# the service's sandbox rates at most 1.0 on systemd-analyze security's
# exposure scale. verify checks ExecStart= exists: it runs on a copy whose
# ExecStart points into the DESTDIR. The man pages named in Documentation=
# are checked too once doc/ installs them.
. "$(dirname "$0")/lib.sh"
need systemd-analyze systemd

D=$T/root
install_into "$D"
U=$T/units
mkdir "$U"
sed "s|^ExecStart=$SBINDIR/|ExecStart=$D$SBINDIR/|" "$D$UNITDIR/vaultd.service" >"$U/vaultd.service"
cp "$D$UNITDIR/vaultd.socket" "$U/vaultd.socket"
grep -q "^ExecStart=$D$SBINDIR/vaultd " "$U/vaultd.service" || fail "no ExecStart=$SBINDIR/vaultd in vaultd.service"

if [ "$HAVE_MANPAGES" = 1 ]; then
	need man man-db
	man_opt="--man=yes"
	# Only the installed pages: Documentation= must name pages we ship.
	export MANPATH="$D$MANDIR"
else
	echo "doc/meson.build absent: Documentation= man pages not checked"
	man_opt="--man=no"
fi
if ! systemd-analyze verify "$man_opt" "$U/vaultd.socket" "$U/vaultd.service" >"$T/verify.log" 2>&1; then
	cat "$T/verify.log" >&2
	fail "systemd-analyze verify failed"
fi
if [ -s "$T/verify.log" ]; then
	cat "$T/verify.log" >&2
	fail "systemd-analyze verify printed warnings about the units"
fi

# --threshold=10: exit non-zero above an exposure of 1.0 (the scale is 0-10).
if ! systemd-analyze security --offline=yes --threshold=10 "$U/vaultd.service" >"$T/security.log" 2>&1; then
	cat "$T/security.log" >&2
	fail "systemd-analyze security rates vaultd.service above 1.0"
fi
tail -n 1 "$T/security.log"

# What the socket unit sets is what vaultd's socket directory check and
# the clients need (README.md, "Install as a service").
for line in SocketUser=root SocketGroup=vault-clients SocketMode=0660 DirectoryMode=0755; do
	grep -qx "$line" "$U/vaultd.socket" || fail "vaultd.socket lacks $line"
done
for line in Type=notify User=vault Group=vault StateDirectory=vault CapabilityBoundingSet= \
    NoNewPrivileges=yes ProtectSystem=strict MemoryDenyWriteExecute=yes LimitCORE=0 \
    RestrictAddressFamilies=AF_UNIX "LoadCredential=root.key:$SYSCONFDIR/vault/root.key"; do
	grep -qx "$line" "$U/vaultd.service" || fail "vaultd.service lacks $line"
done
echo "install-units: ok"
