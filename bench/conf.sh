# bench/conf.sh - sourced by the benchmark scripts (ab, callgrind, privacy,
# profile, run).
# vault_conf DIR [SERVER_LINES]: DIR/vaultd.conf for a vaultd whose socket,
# data and keys all live under DIR (DIR/run is created); SERVER_LINES go
# into its [server] section; AUDIT=off turns the audit trail off.
vault_conf() {
	mkdir -m 700 "$1/run"
	{
		echo "[server]"; echo "socket_path = $1/run/vaultd.sock"; echo "max_pending_per_connection = 256"
		[ -z "${2:-}" ] || printf '%s\n' "$2"
		echo "[storage]"; echo "data_dir = $1/data"
		echo "[keys]"; echo "keyring_path = $1/keys/keyring"; echo "root_key_path = $1/keys/root.key"
		if [ "${AUDIT:-on}" = off ]; then echo "[audit]"; echo "enabled = false"; fi
	} > "$1/vaultd.conf"
}
