#!/usr/bin/env bash
# Open every screen of `pumpctl tui` in a real terminal (tmux), at 80x24 and at 120x40, and
# check that each shows its first and its last line whole (title, buttons, the key row): a
# screen cut off at the bottom or the right loses one of them. A long run, kept out of the
# suite (tests/tui/test_layout.py checks the same in process); about 30 s:
#
#   tests/tui/tmux_screens.sh            # uses `pumpctl` from PATH
#   PUMPCTL=.venv/bin/pumpctl tests/tui/tmux_screens.sh
set -euo pipefail

NAME=tmux_screens
# shellcheck source=tests/tui/tmux_lib.sh
source "$(dirname "$0")/tmux_lib.sh"

# Escape, then wait until the screen's title (the first argument) has gone.
back() { keys Escape; gone "$1"; expect "? help" "q Quit"; }

start_tui
expect "TRAINING SIMULATOR" "Dose  1.4 mg/day" "link OK"
keys Up
expect "Increase the daily dose"
keys y
expect "Dose  1.54 mg/day"

for size in 80x24 120x40; do
    where=$size
    tmx resize-window -t tui -x "${size%x*}" -y "${size#*x}"
    echo "$size: dashboard"
    expect "Therapy" "Reservoir" "Dose and pain" "Low-reservoir date" "Alarms:" "? help" "q Quit"
    echo "$size: help"
    keys "?"
    expect "Help - keys on the dashboard (Esc closes)"
    back "Help - keys on the dashboard (Esc closes)"
    echo "$size: refill"
    keys r
    expect "Refill: the pump expects" "Residual withdrawn, mL" "Review (Enter)" "Cancel (esc)"
    back "Refill: the pump expects"
    echo "$size: flexible dosing"
    keys g
    expect "Flexible dosing" "Steps, HH:MM=mg/day" "Review (Enter)" "Cancel (Esc)"
    back "Flexible dosing"
    echo "$size: periodic boluses"
    keys o
    expect "Periodic boluses" "First of the day (HH:MM)" "Review (Enter)" "Cancel (Esc)"
    back "Periodic boluses"
    echo "$size: training panel"
    keys t
    expect "TRAINING SIMULATOR - not a patient's pump"
    back "TRAINING SIMULATOR - not a patient's pump"
    echo "$size: review"
    keys Down
    expect "Decrease the daily dose" "Send (y)" "Cancel (n)"
    keys n
    gone "Decrease the daily dose"
    echo "$size: event log and an event's detail"
    keys e
    expect "Pump event log" "Back"
    keys Enter
    expect "request id" "value b" "Esc: close"
    keys Escape
    gone "Esc: close"
    expect "Pump event log"
    back "Pump event log"
    echo "$size: audit trail and an entry's detail"
    keys u
    expect "Audit trail intact" "Back"
    keys Enter
    expect "Audit entry" "actor" "Esc: close"
    keys Escape
    gone "Esc: close"
    expect "Audit trail intact"
    back "Audit trail intact"
done

keys q
expect "pumpctl-exit=0"
echo "tmux_screens: OK"
