"""Free text people type (a clinician's name, a note, a reason) in and out.

Typed text with a control character is refused where it enters; text already stored is
shown with its control characters escaped, so a newline or a terminal escape kept in an
old record cannot forge a line of the audit trail or repaint the screen.
"""

from __future__ import annotations

import unicodedata


class TextError(ValueError):
    """Typed text holding a control character; the message names where."""


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def has_control(text: str) -> bool:
    return any(_is_control(c) for c in text)


def check_typed(text: str, what: str) -> str:
    if has_control(text):
        raise TextError(f"{what} {printable(text)!r} holds a control character")
    return text


def printable(text: str) -> str:
    """``text`` with every control character written as its escape (``\\n``, ``\\x1b``)."""
    if not has_control(text):
        return text
    return "".join(
        c.encode("unicode_escape").decode("ascii") if _is_control(c) else c for c in text
    )
