"""Message ↔ payload bytes, derived from the wire markers on each model's fields."""

from __future__ import annotations

import operator
import struct
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from pydantic import ValidationError

from pumpctl.protocol.frames import Frame, FrameFlags
from pumpctl.protocol.messages import REQUESTS, RESPONSES, Message, MsgType, Nak
from pumpctl.protocol.wire import Blob, Fixed, ListOf, Octets, Text, WireModel

M = TypeVar("M", bound=WireModel)
_COUNT = struct.Struct("<B")
_BLOB_LENGTH = struct.Struct("<H")


class DecodeError(ValueError):
    """A frame whose payload does not decode as its message type says."""


class UnknownMessage(DecodeError):
    """A frame whose message type the receiver does not know."""


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive fixed-size fields packed with one ``struct.Struct``; ``values`` reads
    them from a record, in order, in one call."""

    names: tuple[str, ...]
    packer: struct.Struct
    values: Callable[[object], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class _TextField:
    name: str
    max_bytes: int


@dataclass(frozen=True, slots=True)
class _ListField:
    name: str
    item: type[WireModel]
    max_items: int


@dataclass(frozen=True, slots=True)
class _BlobField:
    name: str
    max_bytes: int


_Step = _Run | _TextField | _ListField | _BlobField


@cache
def _layout(cls: type[WireModel]) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    run_names: list[str] = []
    run_fmt = ""

    def close_run() -> None:
        nonlocal run_names, run_fmt
        if run_names:
            names = tuple(run_names)
            steps.append(_Run(names, struct.Struct("<" + run_fmt), _getter(names)))
            run_names, run_fmt = [], ""

    for name, field in cls.model_fields.items():
        markers = (Fixed, Text, ListOf, Octets, Blob)
        marker = next((m for m in field.metadata if isinstance(m, markers)), None)
        if isinstance(marker, Fixed):
            run_names.append(name)
            run_fmt += marker.fmt
            continue
        if isinstance(marker, Octets):
            run_names.append(name)
            run_fmt += f"{marker.length}s"
            continue
        close_run()
        if isinstance(marker, Text):
            steps.append(_TextField(name, marker.max_bytes))
        elif isinstance(marker, Blob):
            steps.append(_BlobField(name, marker.max_bytes))
        elif isinstance(marker, ListOf):
            (item,) = typing.get_args(field.annotation)
            steps.append(_ListField(name, item, marker.max_items))
        else:
            raise TypeError(f"{cls.__name__}.{name} has no wire marker")
    close_run()
    return tuple(steps)


def _getter(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    if len(names) == 1:
        get = operator.attrgetter(names[0])
        return lambda record: (get(record),)
    return operator.attrgetter(*names)


def encode_payload(message: WireModel) -> bytes:
    out = bytearray()
    _encode_into(message, out)
    return bytes(out)


def _encode_into(record: WireModel, out: bytearray) -> None:
    for step in _layout(type(record)):
        if isinstance(step, _Run):
            out += step.packer.pack(*step.values(record))
        elif isinstance(step, _TextField):
            text = getattr(record, step.name).encode()
            if len(text) > step.max_bytes:
                raise ValueError(f"{step.name} is {len(text)} bytes; at most {step.max_bytes}")
            out += _COUNT.pack(len(text)) + text
        elif isinstance(step, _BlobField):
            blob: bytes = getattr(record, step.name)
            if len(blob) > step.max_bytes:
                raise ValueError(f"{step.name} is {len(blob)} bytes; at most {step.max_bytes}")
            out += _BLOB_LENGTH.pack(len(blob)) + blob
        else:
            items: list[WireModel] = getattr(record, step.name)
            if len(items) > step.max_items:
                raise ValueError(f"{step.name} has {len(items)} items; at most {step.max_items}")
            out += _COUNT.pack(len(items))
            for item in items:
                _encode_into(item, out)


def decode_payload(cls: type[M], payload: bytes) -> M:
    try:
        values, end = _decode_values(cls, payload, 0)
    except (struct.error, UnicodeDecodeError, IndexError) as error:
        raise DecodeError(f"{cls.__name__}: payload truncated or malformed ({error})") from None
    if end != len(payload):
        raise DecodeError(f"{cls.__name__}: {len(payload) - end} unexpected trailing bytes")
    try:
        return cls.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DecodeError(f"{cls.__name__}.{where}: {first['msg']}") from None


def _decode_values(cls: type[WireModel], data: bytes, offset: int) -> tuple[dict[str, Any], int]:
    values: dict[str, Any] = {}
    for step in _layout(cls):
        if isinstance(step, _Run):
            values.update(zip(step.names, step.packer.unpack_from(data, offset), strict=True))
            offset += step.packer.size
        elif isinstance(step, _TextField):
            length = data[offset]
            end = offset + 1 + length
            if end > len(data):
                raise IndexError("text runs past the payload")
            values[step.name] = data[offset + 1 : end].decode()
            offset = end
        elif isinstance(step, _BlobField):
            (length,) = _BLOB_LENGTH.unpack_from(data, offset)
            end = offset + _BLOB_LENGTH.size + length
            if end > len(data):
                raise IndexError("bytes run past the payload")
            values[step.name] = data[offset + _BLOB_LENGTH.size : end]
            offset = end
        else:
            count = data[offset]
            offset += 1
            items = []
            for _ in range(count):
                item, offset = _decode_values(step.item, data, offset)
                items.append(item)
            values[step.name] = items
    return values, offset


_REQUEST_TYPES: dict[int, type[Message]] = {cls.TYPE: cls for cls in REQUESTS}
_RESPONSE_TYPES: dict[int, type[Message]] = {cls.TYPE: cls for cls in RESPONSES}


def request_class(msg_type: int) -> type[Message] | None:
    return _REQUEST_TYPES.get(msg_type)


def response_class(msg_type: int) -> type[Message] | None:
    return _RESPONSE_TYPES.get(msg_type)


def to_frame(message: Message, seq: int, session_id: int = 0) -> Frame:
    return Frame(
        msg_type=int(message.TYPE),
        seq=seq,
        payload=encode_payload(message),
        flags=_flags_of(type(message)),
        session_id=session_id,
    )


@cache
def _flags_of(cls: type[Message]) -> FrameFlags:
    flags = FrameFlags(0)
    if cls.IS_RESPONSE:
        flags |= FrameFlags.RESPONSE
    if issubclass(cls, Nak):
        flags |= FrameFlags.NAK
    return flags


def from_frame(frame: Frame) -> Message:
    """The message a frame carries; ``DecodeError`` if its type or payload is not valid."""
    table = _RESPONSE_TYPES if frame.is_response else _REQUEST_TYPES
    cls = table.get(frame.msg_type)
    if cls is None:
        kind = "response" if frame.is_response else "request"
        raise UnknownMessage(f"unknown {kind} type 0x{frame.msg_type:02X}")
    if (FrameFlags.NAK in frame.flags) != (cls is Nak):
        raise DecodeError("NAK flag and message type disagree")
    return decode_payload(cls, frame.payload)


def describe(message: Message) -> str:
    return f"{MsgType(message.TYPE).name} {message.model_dump(mode='json')}"
