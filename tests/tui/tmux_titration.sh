#!/usr/bin/env bash
# Drive `pumpctl tui` in a real terminal (tmux, 80x24) as a new user would, against the
# built-in training simulator: log a VAS, step up twice with the pain rising (a day of pump
# time between, from the training panel), run a catheter check, see the guard block the
# third step, step down, quit. Exits non-zero, printing the screen, as soon as an expectation is not met.
#
#   tests/tui/tmux_titration.sh            # uses `pumpctl` from PATH
#   PUMPCTL=.venv/bin/pumpctl tests/tui/tmux_titration.sh
set -euo pipefail

NAME=tmux_titration
# shellcheck source=tests/tui/tmux_lib.sh
source "$(dirname "$0")/tmux_lib.sh"

start_tui

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
