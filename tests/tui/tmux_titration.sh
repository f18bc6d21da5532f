#!/usr/bin/env bash
# Drive `pumpctl tui` in a real terminal (tmux, 80x24) as a new user would, against the
# built-in training simulator: log a VAS, step up twice with the pain rising (a day of pump
# time between, from the training panel), run a catheter check, see the guard block the
# third step, step down, quit. Exits non-zero, printing the screen, as soon as an expectation is not met.
#
#   tests/tui/tmux_titration.sh            # uses `pumpctl` from PATH
#   PUMPCTL=.venv/bin/pumpctl tests/tui/tmux_titration.sh
#
# Nothing of the user's is touched: its own tmux server (-L, no config), a temporary
# XDG_DATA_HOME for the training pump and a temporary clinical record (PUMPCTL_DB).
set -euo pipefail

PUMPCTL=${PUMPCTL:-$(command -v pumpctl || true)}
TIMEOUT_S=${TIMEOUT_S:-20}
if [ -z "$PUMPCTL" ] || [ ! -x "$PUMPCTL" ]; then
    echo "tmux_titration: no pumpctl executable (set PUMPCTL)" >&2
    exit 2
fi
command -v tmux >/dev/null || { echo "tmux_titration: tmux is not installed" >&2; exit 2; }
PUMPCTL=$(cd "$(dirname "$PUMPCTL")" && pwd)/$(basename "$PUMPCTL")  # the shell in tmux has its own cwd

work=$(mktemp -d)
socket="pumpctl-titration-$$"
tmx() { tmux -L "$socket" -f /dev/null "$@"; }
cleanup() {
    tmx kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

screen() { tmx capture-pane -p -t tui; }

fail() {
    echo "tmux_titration: FAILED: $1" >&2
    echo "----- screen (80x24) -----" >&2
    screen >&2 || true
    echo "--------------------------" >&2
    exit 1
}

# Wait (polling the screen, not sleeping a fixed time) until every given text is on it.
expect() {
    local deadline=$((SECONDS + TIMEOUT_S)) text missing
    while :; do
        missing=""
        local shown
        shown=$(screen)
        for text in "$@"; do
            if ! grep -qF -- "$text" <<<"$shown"; then
                missing=$text
                break
            fi
        done
        [ -z "$missing" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && fail "expected \"$missing\" within ${TIMEOUT_S}s"
        sleep 0.05
    done
}

# Wait until a text has gone from the screen (e.g. a dialog closed).
gone() {
    local deadline=$((SECONDS + TIMEOUT_S))
    while screen | grep -qF -- "$1"; do
        [ "$SECONDS" -ge "$deadline" ] && fail "expected \"$1\" to go within ${TIMEOUT_S}s"
        sleep 0.05
    done
}

keys() { tmx send-keys -t tui "$@"; }

tmx new-session -d -s tui -x 80 -y 24 "env -i PATH=/usr/bin:/bin HOME=$work HISTFILE= TERM=xterm-256color bash --norc --noprofile"
keys "PS1='$ ' PUMPCTL_DB=$work/clinic.db XDG_DATA_HOME=$work/data $PUMPCTL tui; echo pumpctl-exit=\$?" Enter

echo "start: the dashboard of the training pump"
expect "TRAINING SIMULATOR" "Dose  1.4 mg/day" "link OK" "q Quit"

echo "VAS 4"
keys v
expect "Pain score (VAS)"
keys 4
expect "Pain  VAS 4 ("

echo "step up 10 %, review, send (y)"
keys Up
expect "Increase the daily dose" "1.54 mg/day"
keys y
expect "Dose  1.54 mg/day"
gone "Increase the daily dose"

echo "a day later (morphine is judged 24 h after a step), VAS 6"
keys t
expect "TRAINING SIMULATOR - not a patient's pump"
keys d
expect "training: advance-1d"
keys v
expect "Pain score (VAS)"
keys 6
expect "Pain  VAS 6 ("

echo "step up again, confirm"
keys Up
expect "Increase the daily dose" "1.69 mg/day"
keys y
expect "Dose  1.69 mg/day"
gone "Increase the daily dose"

echo "a day later, VAS 8"
keys t
expect "TRAINING SIMULATOR - not a patient's pump"
keys d
expect "training: advance-1d"
keys v
expect "Pain score (VAS)"
keys 8
expect "Pain  VAS 8 ("

echo "a catheter check: delivery is ruled out first"
keys c
expect "Catheter patent"

echo "a third step up: the guard blocks it"
keys Up
expect "ESCALATION BLOCKED" "[step-rise]" "Reduce (d)" "Override (o)"
if screen | grep -qF "Increase the daily dose"; then
    fail "the blocked increase offered a review dialog"
fi

echo "reduce from the guard panel, confirm"
keys d
expect "Decrease the daily dose" "1.53 mg/day"
keys y
expect "Dose  1.53 mg/day"
gone "Decrease the daily dose"

echo "quit"
keys q
expect "pumpctl-exit=0"
echo "tmux_titration: OK"
