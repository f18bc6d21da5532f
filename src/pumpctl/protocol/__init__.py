"""Wire protocol shared by the programmer and the pump firmware (docs/protocol.md)."""

from pumpctl.protocol.codec import DecodeError, decode_payload, encode_payload, from_frame, to_frame
from pumpctl.protocol.frames import Frame, FrameError, FrameFlags, StreamDecoder, encode_frame
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
