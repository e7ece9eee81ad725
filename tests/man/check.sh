#!/bin/sh
# meson test man: both man page checks, each reporting all it finds.
#   check.sh SOURCE_ROOT PAGE...
# check_render.sh: every built page renders without a groff warning and has
# the sections of its kind; check_coverage.py: every option, config key,
# command, policy key and exported function the sources define appears in
# its page.
set -u
root=$1
shift
here=$(dirname "$0")
rc=0
echo "== render"
sh "$here/check_render.sh" "$@" || rc=1
echo "== option coverage"
python3 "$here/check_coverage.py" "$root" || rc=1
exit $rc
