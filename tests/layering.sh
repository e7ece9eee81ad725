#!/bin/sh
# layering.sh - keeps vaultd's layers one way (vault/README.md): nothing
# below the server includes a server header, privacy/ and record/ include
# no ops/ header, and store/ and crypto/ include nothing above them.
# Prints each offending #include line and fails. Given the build directory
# too, it checks the calls as well: no object of a lower layer in
# libvaultcore refers to a function the server's objects (or, for privacy/,
# record/ and the modules beside them, the ops' objects) define.
# Usage: layering.sh SOURCE_ROOT [BUILD_ROOT]
set -u
build=${2:-}
case $build in /*|'') ;; *) build=$PWD/$build ;; esac
cd "${1:-.}" || exit 2
bad=0

# refuse ERE PATH...: fail on each #include "X" in the C sources under PATHs
# (directories, which must exist, or files) where X matches ERE.
refuse() {
	what=$1
	shift
	files=
	for p in "$@"; do
		if [ -d "$p" ]; then
			files="$files $(find "$p" -name '*.[ch]' | sort)"
		elif [ -f "$p" ]; then
			files="$files $p"
		elif [ "${p%.[ch]}" = "$p" ]; then
			echo "layering: no directory $p" >&2
			bad=1
		fi
	done
	[ -n "${files# }" ] || return 0
	# shellcheck disable=SC2086
	hits=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*\"($what)\"" $files /dev/null)
	if [ -n "$hits" ]; then
		echo "$hits"
		bad=1
	fi
}

# The server's headers: struct server, its workers, writer and dispatcher,
# and the writer's jobs (rotation.h, restore.h).
server='([^"]*/)?(server|worker|writer|dispatch|rotation|restore)\.h'
# The modules below the operations that live beside the server's files.
below='vault/services.c vault/services.h vault/ctx.c vault/ctx.h
    vault/keyset.c vault/keyset.h vault/alert.c vault/alert.h
    vault/audit.c vault/audit.h vault/journal.c vault/journal.h
    vault/policy.c vault/policy.h vault/reload.c vault/reload.h
    vault/rotation_state.c vault/rotation_state.h
    vault/backupfile.c vault/backupfile.h'

# Nothing below the server includes its headers.
# shellcheck disable=SC2086
refuse "$server" vault/ops vault/privacy vault/record vault/store vault/crypto $below

# privacy/, record/ and the modules beside them call no operation: what they
# share with the ops lives below both (ctx.h, record/delete.h, record/tokens.h).
# shellcheck disable=SC2086
refuse '([^"]*/)?ops/[^"]*' vault/privacy vault/record $below

# store/ and crypto/ are the bottom: only themselves, keys/, common/, the
# log, and record/fields.h (the field numbering, definitions only).
refuse '([^"]*/)?(ops|privacy)/[^"]*|([^"]*/)?record/([^f"][^"]*|f[^i][^"]*)|([^"]*/)?(services|ctx|keyset|alert|audit|journal|policy|config|reload|rotation_state|backupfile)\.h' \
    vault/store vault/crypto

# calls LOWER_OBJECTS -- UPPER_OBJECTS: a lower object's undefined symbols
# that an upper one defines (object names as meson writes them).
calls() {
	dir=$build/vault/libvaultcore.a.p
	lower=
	while [ "$1" != -- ]; do
		lower="$lower $1"
		shift
	done
	shift
	defs=$(mktemp) || exit 2
	(cd "$dir" && for o in "$@"; do
		[ -f "$o" ] && nm -g --defined-only "$o" | awk -v o="$o" 'NF == 3 { print $3, o }'
	done) > "$defs"
	for o in $lower; do
		[ -f "$dir/$o" ] || continue
		nm -u "$dir/$o" | awk -v o="$o" '
		    NR == FNR { def[$1] = $2; next }
		    ($NF in def) { print "vault/libvaultcore.a.p/" o ": calls " $NF " (" def[$NF] ")" }
		' "$defs" -
	done
	rm -f "$defs"
}

if [ -n "$build" ]; then
	[ -d "$build/vault/libvaultcore.a.p" ] || { echo "layering: no $build/vault/libvaultcore.a.p" >&2; exit 2; }
	objs() { (cd "$build/vault/libvaultcore.a.p" && ls $* 2>/dev/null); }
	below_o=$(for f in $below; do case $f in *.c) echo "${f#vault/}.o" ;; esac; done)
	hits=$(calls $(objs 'ops_*.o' 'privacy_*.o' 'record_*.o' 'store_*.o' 'crypto_*.o') $below_o -- \
	    server.c.o worker.c.o writer.c.o dispatch.c.o reply.c.o metrics.c.o rotation.c.o restore.c.o)
	more=$(calls $(objs 'privacy_*.o' 'record_*.o' 'store_*.o' 'crypto_*.o') $below_o -- $(objs 'ops_*.o'))
	hits=$(printf '%s\n%s\n' "$hits" "$more" | sed '/^$/d')
	if [ -n "$hits" ]; then
		echo "$hits"
		bad=1
	fi
fi

if [ "$bad" -ne 0 ]; then
	echo "layering: the includes and calls above go against the layers (vault/README.md)" >&2
	exit 1
fi
echo "layering: ok"
