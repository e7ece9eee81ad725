# tests/install/lib.sh - sourced by the install suite's scripts. meson test
# sets BUILD_ROOT, SOURCE_ROOT and the installed paths (PREFIX, SBINDIR,
# BINDIR, LIBDIR, ...), all absolute and without DESTDIR.
set -eu

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# need TOOL PACKAGE: a missing tool fails the test (scripts/install-deps.sh
# installs it), never skips it.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		fail "$1 not found: install the Debian package $2 (scripts/install-deps.sh)"
}

# A temporary directory removed at exit; $T.
T=$(mktemp -d "${TMPDIR:-/tmp}/vault-install.XXXXXX")
trap 'rm -rf "$T"' EXIT

# install_into DIR: meson install of the build tree with DESTDIR=DIR.
install_into() {
	meson install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$1" >"$T/install.log" 2>&1 ||
		{ cat "$T/install.log" >&2; fail "meson install --destdir $1 failed"; }
}

# mode_is FILE MODE: FILE exists (not through a link) with octal MODE.
mode_is() {
	[ -e "$1" ] || fail "$1 was not installed"
	m=$(stat -c %a "$1")
	[ "$m" = "$2" ] || fail "$1 has mode $m, not $2"
}

# vault_dir WORKERS: $V, a private directory for an installed vaultd on
# temporary paths (never /run/vault, /var/lib/vault), and its
# $V/vaultd.conf with WORKERS workers.
vault_dir() {
	V=$T/vault
	mkdir -m 700 "$V" "$V/run"
	cat >"$V/vaultd.conf" <<CONF
[server]
socket_path = $V/run/vaultd.sock
workers = $1
[storage]
data_dir = $V/data
map_size_bytes = 64M
[keys]
keyring_path = $V/keys/keyring
root_key_path = $V/keys/root.key
CONF
}
