"""Per-programmer enrolment, shared by the programmer and the pump (docs/protocol.md §11.7).

Each programmer holds a key of its own, enrolled in a clinician session; the pump gives it an
id and names that id in its event log. Id 0 is the role's implant key (``role_key``): kept by
the clinic to enrol and to recover, never revoked.
"""

from __future__ import annotations

from pumpctl.protocol.messages import PROGRAMMER_LABEL_MAX
from pumpctl.protocol.session import Role

IMPLANT_KEY_ID = 0
# Design defaults — verify: enrolled programmers a pump keeps at once (a clinic's few
# programmers and a patient's device, with room to spare), and revoked ones kept for the list
# after that (their ids are never given again either way).
PROGRAMMERS_MAX = 8
REVOKED_KEPT = 8
ENROLLABLE_ROLES = frozenset({Role.CLINICIAN, Role.PATIENT})


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot name a programmer (one line), or ``None``: 1 to 32 bytes of
    UTF-8, printable, no control characters."""
    size = len(label.encode())
    if not label.strip():
        return "a programmer's label is empty: give a name such as the computer's"
    if size > PROGRAMMER_LABEL_MAX:
        return f"a programmer's label is {size} bytes; at most {PROGRAMMER_LABEL_MAX}"
    if not label.isprintable():
        return "a programmer's label holds control characters: printable text only"
    return None


def default_label() -> str:
    """This computer's name as a programmer's label (clipped to the label's size)."""
    import socket  # pairing's alone: a read's link is a serial line

    name = "".join(c for c in socket.gethostname() if c.isprintable()).strip()
    clipped = name.encode()[:PROGRAMMER_LABEL_MAX].decode(errors="ignore")
    return clipped or "programmer"
