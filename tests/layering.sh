#!/bin/sh
# layering.sh - the server's layers, kept one way (vault/README.md):
#
#   server     vault/server, worker, dispatch, writer (writer.c), rotation.c,
#              restore.c, reload.c, metrics.c, main.c
#   ops        vault/ops/
#   below ops  vault/privacy/, vault/record/, services.h, ctx.h, keyset,
#              alert, audit, journal, policy, rotation_state
#   bottom     vault/store/, vault/crypto/, keys/, common/
#
# Fails, printing each offending line, when a file of a lower layer
# includes a header of a higher one. Usage: layering.sh SOURCE_ROOT
set -u
root=${1:-.}
cd "$root" || exit 2
bad=0

# includes FILE...: the #include lines, as "file:line: text"
includes() {
	grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$@" /dev/null
}

# refuse WHAT DIR... : fail on includes (an ERE on the included path) in DIRs
refuse() {
	what=$1
	shift
	files=$(find "$@" -name '*.[ch]' | sort)
	[ -n "$files" ] || { echo "layering: no sources under $*" >&2; bad=1; return; }
	# shellcheck disable=SC2086
	hits=$(includes $files | grep -E "#[[:space:]]*include[[:space:]]*\"($what)\"")
	if [ -n "$hits" ]; then
		echo "$hits"
		bad=1
	fi
}

# Nothing below the server includes the server's headers.
server='([^"]*/)?(server|worker|writer|dispatch|restore|rotation)\.h'
refuse "$server" vault/ops vault/privacy vault/record vault/store vault/crypto

# privacy/ and record/ do not call operations: what they share with the ops
# lives below both (vault/ctx.h, record/delete.h).
refuse 'vault/ops/[^"]*|ops/[^"]*' vault/privacy vault/record

# The store is the bottom: only itself, crypto, keys, common, the log and
# the field numbering (record/fields.h, definitions only).
refuse 'vault/(ops|privacy)/[^"]*|vault/record/([^f"][^"]*|f[^i][^"]*)|vault/(services|ctx|keyset|alert|audit|journal|policy|config|rotation_state)\.h' \
    vault/store vault/crypto

if [ "$bad" -ne 0 ]; then
	echo "layering: the includes above go against the layers (vault/README.md)" >&2
	exit 1
fi
echo "layering: ok"
