# Shared by the real-terminal runs (tmux_titration.sh, tmux_screens.sh): source it with NAME
# set. It finds pumpctl, gives the run its own tmux server and temporary directories, and
# offers screen, fail, expect (poll until every text is on the screen), gone, keys and
# start_tui. Nothing of the user's is touched: its own tmux server (-L, no config), a
# temporary XDG_DATA_HOME for the training pump and a temporary clinical record (PUMPCTL_DB).

PUMPCTL=${PUMPCTL:-$(command -v pumpctl || true)}
TIMEOUT_S=${TIMEOUT_S:-20}
if [ -z "$PUMPCTL" ] || [ ! -x "$PUMPCTL" ]; then
    echo "$NAME: no pumpctl executable (set PUMPCTL)" >&2
    exit 2
fi
command -v tmux >/dev/null || { echo "$NAME: tmux is not installed" >&2; exit 2; }
PUMPCTL=$(cd "$(dirname "$PUMPCTL")" && pwd)/$(basename "$PUMPCTL")  # the shell in tmux has its own cwd

work=$(mktemp -d)
socket="pumpctl-$NAME-$$"
where=""  # said with a failure, e.g. the terminal's size
tmx() { tmux -L "$socket" -f /dev/null "$@"; }
cleanup() {
    tmx kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

screen() { tmx capture-pane -p -t tui; }

fail() {
    echo "$NAME: FAILED${where:+ at $where}: $1" >&2
    echo "----- screen -----" >&2
    screen >&2 || true
    echo "------------------" >&2
    exit 1
}

# Wait (polling the screen, not sleeping a fixed time) until every given text is on it.
expect() {
    local deadline=$((SECONDS + TIMEOUT_S)) text missing shown
    while :; do
        missing=""
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

# A clean shell in an 80x24 tmux window, running pumpctl tui on the training pump.
start_tui() {
    tmx new-session -d -s tui -x 80 -y 24 "env -i PATH=/usr/bin:/bin HOME=$work HISTFILE= TERM=xterm-256color bash --norc --noprofile"
    keys "PS1='$ ' PUMPCTL_DB=$work/clinic.db XDG_DATA_HOME=$work/data $PUMPCTL tui; echo pumpctl-exit=\$?" Enter
}
