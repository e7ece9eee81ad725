#!/bin/sh
# install-default.sh SRC DEST MODE: install SRC as DEST (under $DESTDIR)
# only if DEST does not exist, so that meson install never overwrites a
# file the administrator edited (a configuration in /etc).
set -eu
dest="${DESTDIR:-}$2"
if [ -e "$dest" ] || [ -L "$dest" ]; then
	echo "keeping $dest (exists)"
	exit 0
fi
mkdir -p "$(dirname "$dest")"
install -m "$3" "$1" "$dest"
echo "installed $dest"
