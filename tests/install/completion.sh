#!/bin/sh
# install-completion: the installed bash completion for vaultctl, loaded
# the way bash-completion loads it, completes command words from the
# installed vaultctl's help, subcommands and option values.
. "$(dirname "$0")/lib.sh"
need bash bash
[ -r /usr/share/bash-completion/bash_completion ] ||
	fail "/usr/share/bash-completion/bash_completion missing: install bash-completion"

D=$T/root
install_into "$D"
# complete LINE: the candidates for the last word of LINE, sorted, one a line.
cat >"$T/complete.bash" <<'BASH'
. /usr/share/bash-completion/bash_completion
. "$COMPLETION"
complete_line() {
	COMP_LINE=$1
	COMP_POINT=${#COMP_LINE}
	read -ra COMP_WORDS <<<"$COMP_LINE"
	[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_vaultctl
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
complete_line "$1"
BASH
complete() {
	COMPLETION="$D$COMPLETIONDIR/vaultctl" bash "$T/complete.bash" "$1"
}
ctl=$D$BINDIR/vaultctl
got=$(complete "$ctl ke")
[ "$got" = keys ] || fail "'vaultctl ke' completes to '$got', not keys"
got=$(complete "$ctl -s /tmp/x --json keys rot")
[ "$got" = "$(printf 'rotate\nrotate-record')" ] || fail "'keys rot' completes to '$got'"
got=$(complete "$ctl -p mar")
[ "$got" = marketing ] || fail "'-p mar' completes to '$got', not marketing"
got=$(complete "$ctl --js")
[ "$got" = --json ] || fail "'--js' completes to '$got', not --json"
# Every command word of the help is offered.
got=$(complete "$ctl ")
for word in ping status create read requests holds audit backup; do
	printf '%s\n' "$got" | grep -qx "$word" || fail "'vaultctl ' does not offer $word (got: $got)"
done
echo "install-completion: ok"
