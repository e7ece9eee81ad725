#!/bin/sh
# Run the real vaultd ($VAULTD, set by meson) under valgrind for the
# end-to-end tests:
#   VAULTD_WRAPPER=$PWD/scripts/valgrind-vaultd.sh meson test -C build e2e-client
# Any memory error or leak makes vaultd exit 99, which the tests' clean-stop
# assertions turn into a failure.
set -eu
exec valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --track-fds=no \
	"$VAULTD" "$@"
