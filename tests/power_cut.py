"""A power cut at a chosen instant: a child process that says when it is there, then SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys


def cut_when_inside(script: str, *args: str) -> None:
    """Run ``script`` in a child Python until it prints ``inside`` (the instant to cut, say
    with a transaction open), then kill it as a power cut would."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "inside\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
