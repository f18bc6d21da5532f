"""Frame layer: header, CRC-32 and COBS delimiting (see docs/protocol.md §2–§4).

On the wire a frame is ``COBS(header ‖ payload ‖ trailer ‖ CRC-32) 0x00``. COBS removes
every zero byte from the body so 0x00 only ever marks the end of a frame: a receiver that
lands in noise discards bytes up to the next 0x00 and is back in step.
"""

from __future__ import annotations

import struct
import zlib
from enum import IntFlag
from typing import NamedTuple

PROTOCOL_VERSION = 1
DELIMITER = b"\x00"
HEADER = struct.Struct("<BBBHIH")  # version, type, flags, seq, session id, payload length
CRC = struct.Struct("<I")
MAX_PAYLOAD = 1024
AUTH_TRAILER_LEN = 4 + 16  # message counter + AEAD tag (a session's sealed frames)
# Longest body a receiver accepts before COBS decoding; longer input is noise.
MAX_ENCODED = (HEADER.size + MAX_PAYLOAD + AUTH_TRAILER_LEN + CRC.size) * 255 // 254 + 2


class FrameFlags(IntFlag):
    RESPONSE = 0x01
    NAK = 0x02
    AUTHENTICATED = 0x04
    RETRANSMISSION = 0x08


NO_FLAGS = FrameFlags(0)
# Every flags byte as a FrameFlags, built once: a frame's flags are looked up, not converted.
FLAGS = tuple(FrameFlags(value) for value in range(256))


class FrameError(ValueError):
    """A byte sequence that is not a valid frame; ``reason`` names the defect."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Frame(NamedTuple):
    """One frame as the layers above COBS see it (a named tuple: built on every hop, both
    ways, so it must cost little to build)."""

    msg_type: int
    seq: int
    payload: bytes = b""
    flags: FrameFlags = NO_FLAGS
    session_id: int = 0
    auth_trailer: bytes = b""
    version: int = PROTOCOL_VERSION

    @property
    def is_response(self) -> bool:
        return int(self.flags) & _RESPONSE != 0


def cobs_encode(data: bytes) -> bytes:
    if len(data) < 0xFE:
        # No block can reach 254 bytes: the data after one leading byte, each zero (and the
        # leading byte) replaced by the distance to the next zero or the end.
        out = bytearray(1) + data
        position = 0
        for length in map(len, data.split(b"\x00")):
            length += 1
            out[position] = length
            position += length
        return bytes(out)
    out = bytearray()
    for piece in data.split(b"\x00"):
        while len(piece) >= 0xFE:
            out.append(0xFF)
            out += piece[:0xFE]
            piece = piece[0xFE:]
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """The body ``data`` encodes; ``FrameError`` names the defect."""
    if data and 0 not in data:
        # Follow the chain of distances, turning each into the zero it stands for; a
        # 254-byte block (code 0xFF, no zero after it) or a broken chain takes the long way.
        out = bytearray(data)
        length = len(out)
        index = out[0]
        while index < length:
            code = out[index]
            if code == 0xFF:
                break
            out[index] = 0
            index += code
        if index == length and data[0] != 0xFF:
            del out[0]
            return bytes(out)
    return _cobs_decode_blocks(data)


def _cobs_decode_blocks(data: bytes) -> bytes:
    if 0 in data:
        raise FrameError("zero byte inside a COBS block")
    out = bytearray()
    index = 0
    length = len(data)
    while index < length:
        code = data[index]
        end = index + code
        if end > length:
            raise FrameError("COBS block runs past the end of the frame")
        out += data[index + 1 : end]
        index = end
        if code < 0xFF and index < length:
            out.append(0)
    return bytes(out)


def pack_header(frame: Frame) -> bytes:
    """The 11 header bytes of ``frame`` as they go on the wire."""
    return HEADER.pack(
        frame.version,
        frame.msg_type,
        frame.flags,
        frame.seq,
        frame.session_id,
        len(frame.payload),
    )


def encode_frame(frame: Frame) -> bytes:
    if len(frame.payload) > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    has_trailer = FrameFlags.AUTHENTICATED in frame.flags
    if has_trailer != (len(frame.auth_trailer) == AUTH_TRAILER_LEN):
        raise FrameError("authentication trailer and AUTHENTICATED flag disagree")
    body = pack_header(frame) + frame.payload + frame.auth_trailer
    body += CRC.pack(zlib.crc32(body))
    return cobs_encode(body) + DELIMITER


def encoded_length(frame: Frame) -> int:
    """``len(encode_frame(frame))``, without encoding it when no COBS block can reach 254
    bytes (every frame but the longest): each zero byte is replaced, one byte added."""
    body = HEADER.size + len(frame.payload) + len(frame.auth_trailer) + CRC.size
    return body + 2 if body < 0xFE else len(encode_frame(frame))


def decode_body(encoded: bytes) -> Frame:
    """Decode one frame body (without its 0x00 delimiter)."""
    body = cobs_decode(encoded)
    size = len(body)
    if size < HEADER.size + CRC.size:
        raise FrameError(f"frame of {size} bytes is shorter than header and CRC")
    (crc,) = CRC.unpack_from(body, size - CRC.size)
    if zlib.crc32(body[: -CRC.size]) != crc:
        raise FrameError("CRC mismatch")
    version, msg_type, flags, seq, session_id, payload_len = HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise FrameError(f"unsupported protocol version {version}")
    if payload_len > MAX_PAYLOAD:
        raise FrameError(f"payload length {payload_len} exceeds {MAX_PAYLOAD}")
    trailer_len = AUTH_TRAILER_LEN if flags & _AUTHENTICATED else 0
    if HEADER.size + payload_len + trailer_len + CRC.size != size:
        raise FrameError("payload length field disagrees with the frame length")
    payload_end = HEADER.size + payload_len
    return Frame(
        msg_type,
        seq,
        body[HEADER.size : payload_end],
        FLAGS[flags],
        session_id,
        body[payload_end : size - CRC.size],
        version,
    )


_AUTHENTICATED = int(FrameFlags.AUTHENTICATED)
_RESPONSE = int(FrameFlags.RESPONSE)


class StreamDecoder:
    """Turns arbitrary byte chunks into frames, dropping noise and counting what it dropped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overlong = False
        self.frames_decoded = 0
        self.frames_rejected = 0
        self.last_error: str | None = None

    def reset(self) -> None:
        """Discard a partial frame (after the inter-byte timeout)."""
        self._buffer.clear()
        self._overlong = False

    @property
    def has_partial(self) -> bool:
        return bool(self._buffer) or self._overlong

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while True:
            end = data.find(0, start)
            if end == -1:
                self._append(data[start:])
                return frames
            if self._buffer or self._overlong:
                self._append(data[start:end])
                body = b"" if self._overlong else bytes(self._buffer)
                overlong = self._overlong
                self.reset()
            else:  # a whole frame in this chunk: decoded where it lies
                body = data[start:end]
                overlong = len(body) > MAX_ENCODED
            if overlong:
                self.frames_rejected += 1
                self.last_error = "frame longer than the maximum"
            elif body:
                try:
                    frames.append(decode_body(body))
                    self.frames_decoded += 1
                except FrameError as error:
                    self.frames_rejected += 1
                    self.last_error = error.reason
            start = end + 1

    def _append(self, chunk: bytes) -> None:
        if self._overlong or not chunk:
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_ENCODED:
            self._buffer.clear()
            self._overlong = True
