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
	bad=0
	if [ ! -s "$page" ]; then
		echo "$name: missing or empty (did scdoc fail?)" >&2
		fail=1
		continue
	fi
	warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	if [ -n "$warnings" ]; then
		echo "$name: groff warnings:" >&2
		echo "$warnings" >&2
		bad=1
	fi
	if command -v man >/dev/null 2>&1; then
		out=$(MANWIDTH=80 man -l "$page" 2>&1 >/dev/null)
		if [ -n "$out" ]; then
			echo "$name: man -l says:" >&2
			echo "$out" >&2
			bad=1
		fi
	fi
	# The sections every page of its kind has (man-pages(7)).
	case "$name" in
	*.3) want="NAME SYNOPSIS DESCRIPTION RETURN_VALUE ERRORS EXAMPLES SEE_ALSO" ;;
	*.5) want="NAME SYNOPSIS DESCRIPTION FILES EXAMPLES SEE_ALSO" ;;
	*) want="NAME SYNOPSIS DESCRIPTION OPTIONS FILES EXIT_STATUS EXAMPLES SEE_ALSO" ;;
	esac
	text=$(groff -man -Tascii -P-cbou "$page" 2>/dev/null)
	for section in $want; do
		section=$(echo "$section" | tr _ ' ')
		if ! printf '%s\n' "$text" | grep -qx "$section"; then
			echo "$name: no $section section" >&2
			bad=1
		fi
	done
	if [ $bad -eq 0 ]; then
		echo "$name: renders cleanly"
	else
		fail=1
	fi
done
exit $fail
