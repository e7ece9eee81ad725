#!/bin/sh
# Every man page renders: groff formats each page scdoc built with all
# warnings on (-ww) and must say nothing; man(1) must also format it (the
# path an admin takes), and the page must carry the sections every page
# has. Arguments: the built pages (build/doc/NAME.SECTION).
set -u

command -v groff >/dev/null 2>&1 || {
	echo "groff is missing (Debian package groff-base, scripts/install-deps.sh)" >&2
	exit 1
}
[ $# -gt 0 ] || { echo "usage: $0 PAGE..." >&2; exit 2; }

fail=0
for page in "$@"; do
	name=$(basename "$page")
	if [ ! -s "$page" ]; then
		echo "$name: missing or empty (did scdoc fail?)" >&2
		fail=1
		continue
	fi
	warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	if [ -n "$warnings" ]; then
		echo "$name: groff warnings:" >&2
		echo "$warnings" >&2
		fail=1
	fi
	if command -v man >/dev/null 2>&1; then
		out=$(MANWIDTH=80 MAN_KEEP_FORMATTING= man -l "$page" 2>&1 >/dev/null)
		if [ -n "$out" ]; then
			echo "$name: man -l says:" >&2
			echo "$out" >&2
			fail=1
		fi
	fi
	text=$(groff -man -Tascii -P-cbou "$page" 2>/dev/null)
	for section in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" "SEE ALSO"; do
		if ! printf '%s\n' "$text" | grep -qx "$section"; then
			echo "$name: no $section section" >&2
			fail=1
		fi
	done
	[ $fail -eq 0 ] && echo "$name: renders cleanly"
done
exit $fail
