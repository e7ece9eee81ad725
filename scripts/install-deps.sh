#!/bin/sh
# Install the Debian packages the project needs, if any is missing.
# Safe to run repeatedly: it only calls apt-get when something is absent.
set -eu

PACKAGES="
bsdutils
gcc
make
meson
ninja-build
pkg-config
libsodium-dev
liblmdb-dev
lmdb-utils
libpq-dev
postgresql-15
libmsgpack-dev
libgfshare-dev
libcriterion-dev
libinih-dev
libjansson-dev
libsystemd-dev
libp11-kit-dev
p11-kit
softhsm2
systemd
clang
libclang-rt-14-dev
valgrind
strace
python3
python3-msgpack
python3-pytest
python3-setuptools
python3-pip
mypy
util-linux
groff-base
scdoc
bash-completion
binutils
procps
"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "need root (or sudo) to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
