#!/bin/bash
# Start-up and unseal latency per key custody mode, and the time of each
# rekey (issue 16): a root key file (vaultd's start to its first answered
# status, the ring opened at start), a passphrase (Argon2id MODERATE, the
# `vaultctl unseal` call), Shamir shares 3 of 5 (the three `vaultctl
# unseal --share-file` calls, and the third alone, which combines), a
# PKCS#11 token (SoftHSM2: the `vaultctl unseal` call with the PIN), and
# `vaultctl keys rekey` to each kind. Each figure is the median of N runs
# in milliseconds, measured from the shell (so a vaultctl start, ~2 ms, is
# in every figure but the first).
#   bench/custody.sh [N]     (default 5)
# Environment: BUILD (build).
set -eu
cd "$(dirname "$0")/.."
. bench/conf.sh
n=${1:-5}
BUILD=${BUILD:-build}
module=/usr/lib/softhsm/libsofthsm2.so
[ -r "$module" ] || { echo "softhsm2 is missing: scripts/install-deps.sh" >&2; exit 1; }
top=$(mktemp -d "${TMPDIR:-/tmp}/vault-custody-XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$top"' EXIT
kt="$BUILD/keys/vault-keytool"
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# setup DIR: configuration, policy (this uid admin), SoftHSM2 token "vault".
setup() {
	d=$1
	mkdir -p "$d/keys" "$d/shares" "$d/hsm/tokens"
	chmod 700 "$d/keys" "$d/shares"
	vault_conf "$d"
	printf '[client bench]\nuids = %s\nadmin = true\n' "$(id -u)" > "$d/policy.ini"
	chmod 644 "$d/policy.ini"
	printf '[policy]\nfile = %s\n[keys]\npkcs11_module = %s\n' "$d/policy.ini" "$module" >> "$d/vaultd.conf"
	printf 'directories.tokendir = %s/hsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$d" > "$d/hsm/softhsm2.conf"
	export SOFTHSM2_CONF="$d/hsm/softhsm2.conf"
	softhsm2-util --init-token --free --label vault --pin 1234 --so-pin 5678 >/dev/null
	printf '1234\n' > "$d/pin"; chmod 600 "$d/pin"
}
start() {
	"$BUILD/vault/vaultd" --dev -c "$d/vaultd.conf" 2>>"$d/vaultd.log" &
	pid=$!
	for _ in $(seq 400); do [ -S "$d/run/vaultd.sock" ] && ctl ping >/dev/null 2>&1 && return; sleep 0.01; done
	echo "vaultd did not start" >&2; cat "$d/vaultd.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
ctl() { "$BUILD/client/vaultctl" -s "$d/run/vaultd.sock" "$@"; }

declare -A t
for i in $(seq "$n"); do
	d="$top/$i"; setup "$d"
	# Root key file: from exec to the first status that says unsealed.
	a=$(now)
	"$BUILD/vault/vaultd" --dev -c "$d/vaultd.conf" 2>>"$d/vaultd.log" &
	pid=$!
	until ctl status >/dev/null 2>&1; do sleep 0.002; done
	t[keyfile]+="$(ms "$a" "$(now)") "
	ctl -p transactional create first_name=Jane >/dev/null 2>&1 || true
	# Rekeys, while serving.
	a=$(now); ctl keys rekey --shares 5 --threshold 3 --share-dir "$d/shares" >/dev/null
	t[rekey_shares]+="$(ms "$a" "$(now)") "
	stop; start
	a=$(now); ctl unseal --share-file "$d/shares/share-1" >/dev/null
	ctl unseal --share-file "$d/shares/share-2" >/dev/null
	b=$(now); ctl unseal --share-file "$d/shares/share-3" >/dev/null; c=$(now)
	t[shares_3]+="$(ms "$a" "$c") "; t[shares_last]+="$(ms "$b" "$c") "
	a=$(now); printf 'correct horse battery\n' | ctl keys rekey --passphrase >/dev/null
	t[rekey_passphrase]+="$(ms "$a" "$(now)") "
	stop; start
	a=$(now); printf 'correct horse battery\n' | ctl unseal >/dev/null
	t[passphrase]+="$(ms "$a" "$(now)") "
	"$kt" init "$d/scratch" --pkcs11 "$module" --token vault --key vault-root --create-key \
	    --pin-file "$d/pin" >/dev/null
	a=$(now); ctl keys rekey --pkcs11 --token vault --key vault-root --pin-file "$d/pin" >/dev/null
	t[rekey_pkcs11]+="$(ms "$a" "$(now)") "
	stop; start
	a=$(now); printf '1234\n' | ctl unseal >/dev/null
	t[pkcs11]+="$(ms "$a" "$(now)") "
	a=$(now); ctl keys rekey --key-file "$d/keys/root.key.new" >/dev/null
	t[rekey_keyfile]+="$(ms "$a" "$(now)") "
	stop
done
printf '%-34s %s\n' "what (median of $n, ms)" "time"
for k in keyfile passphrase shares_3 shares_last pkcs11 rekey_keyfile rekey_passphrase rekey_shares rekey_pkcs11; do
	printf '%-34s %s\n' "$k" "$(echo "${t[$k]}" | tr ' ' '\n' | grep . | median)"
done
