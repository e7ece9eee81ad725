#!/bin/sh
# The Python client's checks, for meson (suite python):
#   run.sh mypy     mypy --strict on the package (pyproject.toml's [tool.mypy]),
#                   then on the tests and bench/python-bench.py
#   run.sh pytest   the pytest suite against the real vaultd in $VAULTD
# The interpreter is $VAULT_PYTHON, else Debian's /usr/bin/python3 (where
# python3-msgpack, python3-pytest and mypy install), else python3 on PATH.
# A missing module is a failure that says what to install, never a skip.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
py=${VAULT_PYTHON:-}
if [ -z "$py" ]; then
	if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=$(command -v python3 || true); fi
fi
if [ -z "$py" ]; then
	echo "FAIL: no python3: run scripts/install-deps.sh" >&2
	exit 1
fi
need() { # module package
	if ! "$py" -c "import $1" 2>/dev/null; then
		echo "FAIL: $py cannot import $1 (Debian package $2): run scripts/install-deps.sh" >&2
		exit 1
	fi
}
need msgpack python3-msgpack
# Nothing written into the source tree.
export PYTHONDONTWRITEBYTECODE=1
cd "$here"
case "${1:-}" in
mypy)
	need mypy mypy
	# The package, and the tests and benchmark as its users (strict too:
	# what they import must be typed and exported).
	"$py" -m mypy --cache-dir "${MYPY_CACHE_DIR:-${TMPDIR:-/tmp}/vaultclient-mypy-cache}" \
		--config-file pyproject.toml vaultclient
	MYPYPATH=$here exec "$py" -m mypy \
		--cache-dir "${MYPY_CACHE_DIR:-${TMPDIR:-/tmp}/vaultclient-mypy-cache}" \
		--config-file pyproject.toml tests ../../bench/python-bench.py
	;;
pytest)
	need pytest python3-pytest
	need setuptools python3-setuptools
	need pip python3-pip
	exec "$py" -m pytest -p no:cacheprovider -q -ra tests
	;;
*)
	echo "usage: $0 mypy|pytest" >&2
	exit 2
	;;
esac
