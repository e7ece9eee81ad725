#!/bin/sh
# install-syscalls: vaultd.service's SystemCallFilter= lets through every
# system call vaultd makes. The installed vaultd runs under strace -f
# through a start with new keys, ping, create, read, status, a key rotation
# to its end, a backup and a clean stop, then a start as under systemd (a
# policy, the socket from systemd-socket-activate, the root key as a
# credential), a read and a clean stop; every call it made must be in the
# set the unit's SystemCallFilter= lines allow, expanded with
# systemd-analyze syscall-filter (a call outside it would fail with EPERM
# under systemd and vaultd with it).
. "$(dirname "$0")/lib.sh"
need strace strace
need systemd-socket-activate systemd
need systemd-analyze systemd
need pkg-config pkg-config

D=$T/root
install_into "$D"
unit=$D$UNITDIR/vaultd.service

# expand NAME...: the system calls of the names and groups, one a line.
expand() {
	for n in "$@"; do
		case $n in
		@*)
			systemd-analyze syscall-filter "$n" >"$T/group" 2>&1 ||
				{ cat "$T/group" >&2; fail "systemd-analyze does not know the group $n"; }
			# shellcheck disable=SC2046
			expand $(sed -n '2,$p' "$T/group" | sed 's/#.*//')
			;;
		*) echo "$n" ;;
		esac
	done
}
: >"$T/allowed"
: >"$T/denied"
grep '^SystemCallFilter=' "$unit" >"$T/filters" || fail "vaultd.service has no SystemCallFilter="
while IFS= read -r line; do
	v=${line#SystemCallFilter=}
	case $v in
	"~"*) expand ${v#"~"} >>"$T/denied" ;;
	*) expand $v >>"$T/allowed" ;;
	esac
done <"$T/filters"
sort -u "$T/allowed" >"$T/allowed.s"
sort -u "$T/denied" >"$T/denied.s"
comm -23 "$T/allowed.s" "$T/denied.s" >"$T/permitted"
[ -s "$T/permitted" ] || fail "the unit's filter permits nothing"

vault_dir 2
# LeakSanitizer cannot run under ptrace: a sanitized vaultd traced here
# keeps ASan's other checks and drops the leak check at exit.
case "${SANITIZE:-none}" in *address*) export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" ;; esac
strace -f -qq -o "$T/trace" "$D$SBINDIR/vaultd" --dev -c "$V/vaultd.conf" 2>"$V/vaultd.log" &
pid=$!
# On failure: vaultd (strace's child; strace alone would leave it running), then strace.
trap 'kill $(cat "/proc/$pid/task/$pid/children" 2>/dev/null) "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
i=0
until [ -S "$V/run/vaultd.sock" ]; do
	kill -0 "$pid" 2>/dev/null || { cat "$V/vaultd.log" >&2; fail "vaultd exited before listening"; }
	i=$((i + 1))
	[ $i -le 600 ] || { cat "$V/vaultd.log" >&2; fail "vaultd did not listen within 60 s"; }
	sleep 0.1
done
ctl() {
	LD_LIBRARY_PATH="$D$LIBDIR" "$D$BINDIR/vaultctl" -s "$V/run/vaultd.sock" "$@" >>"$T/ctl.log" 2>&1 ||
		{ cat "$T/ctl.log" "$V/vaultd.log" >&2; fail "vaultctl $* failed"; }
}
ctl ping
tok=$(LD_LIBRARY_PATH="$D$LIBDIR" "$D$BINDIR/vaultctl" -s "$V/run/vaultd.sock" -p transactional \
	create first_name=Jane email=jane@example.com) || fail "vaultctl create failed"
ctl -p transactional read "$tok"
ctl -p transactional tokenize "$tok" email:deterministic
ctl status
ctl keys rotate --wait
ctl keys status
ctl backup nightly
ctl audit verify
# $pid is strace's; SIGTERM goes to vaultd, its child (strace exits with
# vaultd's status).
vpid=$(cat "/proc/$pid/task/$pid/children")
[ -n "$vpid" ] || fail "no vaultd under strace"
kill -TERM $vpid
wait "$pid" || { cat "$V/vaultd.log" >&2; fail "vaultd did not stop cleanly"; }
trap 'rm -rf "$T"' EXIT

# Again as under vaultd.service: existing keys, a policy, no --dev, the
# socket passed by systemd-socket-activate (vaultd starts at the first
# connection) and the root key as a credential.
cat >"$V/policy.ini" <<POLICY
[client admin]
uids = $(id -u)
admin = true
[access admin transactional]
* = plain
POLICY
mkdir -m 700 "$V/creds"
cp "$V/keys/root.key" "$V/creds/root.key"
chmod 400 "$V/creds/root.key"
grep -v '^root_key_path' "$V/vaultd.conf" >"$V/vaultd2.conf"
printf '[policy]\nfile = %s\n' "$V/policy.ini" >>"$V/vaultd2.conf"
# strace outside: LISTEN_PID must be vaultd's own pid, and
# systemd-socket-activate execs vaultd in its own process; only what
# follows that execve, and vaultd's threads, are vaultd's calls.
# systemd-socket-activate passes on only the variables named with -E.
pass_asan=
[ -z "${ASAN_OPTIONS:-}" ] || pass_asan="-E ASAN_OPTIONS"
# shellcheck disable=SC2086
strace -f -qq -o "$T/trace2.all" systemd-socket-activate -l "$V/run/vaultd.sock" $pass_asan \
	-E CREDENTIALS_DIRECTORY="$V/creds" "$D$SBINDIR/vaultd" -c "$V/vaultd2.conf" 2>>"$V/vaultd.log" &
pid=$!
# On failure: vaultd (strace's child; strace alone would leave it running), then strace.
trap 'kill $(cat "/proc/$pid/task/$pid/children" 2>/dev/null) "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
i=0
until LD_LIBRARY_PATH="$D$LIBDIR" "$D$BINDIR/vaultctl" -s "$V/run/vaultd.sock" ping >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || { cat "$V/vaultd.log" >&2; fail "vaultd (policy, no --dev) exited"; }
	i=$((i + 1))
	[ $i -le 600 ] || { cat "$V/vaultd.log" >&2; fail "vaultd (policy, no --dev) did not answer within 60 s"; }
	sleep 0.1
done
ctl -p transactional read "$tok"
ctl status
grep -q 'socket passed by systemd' "$V/vaultd.log" ||
	{ cat "$V/vaultd.log" >&2; fail "vaultd did not serve the socket systemd-socket-activate passed"; }
vpid=$(cat "/proc/$pid/task/$pid/children")
kill -TERM $vpid
wait "$pid" || { cat "$V/vaultd.log" >&2; fail "vaultd (policy, no --dev) did not stop cleanly"; }
trap 'rm -rf "$T"' EXIT

awk -v bin="$D$SBINDIR/vaultd" '
	first == "" { first = $1 }
	$1 == first && !started { if (index($0, "execve(\"" bin "\"") && $0 ~ /= 0$/) started = 1; next }
	started { print }' "$T/trace2.all" >"$T/trace2"
[ -s "$T/trace2" ] || fail "no system call of vaultd after systemd-socket-activate's execve"
# "PID name(" lines; resumed and signal lines carry no new name.
cat "$T/trace" "$T/trace2" | sed -n 's/^[0-9][0-9]* *\([a-z0-9_]*\)(.*/\1/p' | sort -u >"$T/used"
[ -s "$T/used" ] || fail "strace recorded no system call"
# execve is systemd's own, before the filter applies to vaultd.
outside=$(comm -23 "$T/used" "$T/permitted" | grep -vx execve || true)
if [ -n "$outside" ]; then
	fail "vaultd made system calls vaultd.service's SystemCallFilter= refuses:" $outside
fi
echo "install-syscalls: $(wc -l <"$T/used") distinct system calls, all permitted"
