"""The status line's text, fitted to its width: what matters stays, the rest gives way."""

from __future__ import annotations

SEPARATOR = " │ "
# Given up first when the line is too long, in this order: the help hint, the step size,
# the pump's clock (the read time stays), the read time.
OPTIONAL = ("? help", "Step ", ", pump ", "read ")


def fit_status(parts: list[str], width: int) -> str:
    """``parts`` joined; while too wide for ``width``, the optional ones dropped or
    shortened. A message (a refusal, verbatim) and the link's state are never dropped: a
    message longer than the line wraps."""
    parts = list(parts)
    for optional in OPTIONAL:
        if len(SEPARATOR.join(parts)) <= width:
            break
        if optional == ", pump ":
            parts = [p.partition(optional)[0] if p.startswith("read ") else p for p in parts]
        else:
            parts = [p for p in parts if not p.startswith(optional)]
    return SEPARATOR.join(parts)
