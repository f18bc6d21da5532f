"""Wire protocol shared by the programmer and the pump firmware (docs/protocol.md).

The package's names are looked up in their modules when first asked for, so that importing
``pumpctl.protocol.frames`` (a read's framing, the parser's help) builds no message model;
``from pumpctl.protocol import Frame`` and every message name work as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pumpctl.protocol.codec import (
        DecodeError,
        decode_payload,
        encode_payload,
        from_frame,
        to_frame,
    )
    from pumpctl.protocol.frames import (
        Frame,
        FrameError,
        FrameFlags,
        StreamDecoder,
        encode_frame,
    )
    from pumpctl.protocol.messages import *  # noqa: F403

__all__ = [
    "DecodeError",
    "Frame",
    "FrameError",
    "FrameFlags",
    "StreamDecoder",
    "decode_payload",
    "encode_frame",
    "encode_payload",
    "from_frame",
    "to_frame",
]

_CODEC = ["DecodeError", "decode_payload", "encode_payload", "from_frame", "to_frame"]
_FRAMES = ["Frame", "FrameError", "FrameFlags", "StreamDecoder", "encode_frame"]
_HOMES = dict.fromkeys(_CODEC, "codec") | dict.fromkeys(_FRAMES, "frames")
_SUBMODULES = {"codec", "enrolment", "frames", "messages", "roles", "session", "wire"}


def __getattr__(name: str) -> Any:
    """A codec or framing name from its module; any other public name is a message's."""
    if name.startswith("_") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOMES.get(name, 'messages')}")
    try:
        value = getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # the names looked up on first use too
