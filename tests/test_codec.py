"""Properties of the codec and the frame layer, over every message the protocol declares."""

from __future__ import annotations

import itertools
import struct
import typing
import zlib
from collections.abc import Callable
from enum import IntEnum
from functools import cache
from typing import Any

import annotated_types
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpctl.protocol.codec import (
    DecodeError,
    decode_payload,
    encode_payload,
    from_frame,
    to_frame,
)
from pumpctl.protocol.frames import (
    AUTH_TRAILER_LEN,
    HEADER,
    MAX_ENCODED,
    MAX_PAYLOAD,
    Frame,
    FrameError,
    FrameFlags,
    StreamDecoder,
    _cobs_decode_blocks,
    cobs_decode,
    cobs_encode,
    decode_body,
    encode_frame,
)
from pumpctl.protocol.messages import (
    REQUESTS,
    RESPONSES,
    LimitsResponse,
    Message,
    MsgType,
    Nak,
    NakCode,
    RefillRequest,
    SetRateRequest,
    StatusRequest,
    StatusResponse,
    WithdrawalRisk,
)
from pumpctl.protocol.wire import Blob, Fixed, ListOf, Octets, Text, WireModel

MESSAGE_CLASSES: tuple[type[Message], ...] = (*REQUESTS, *RESPONSES)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_CLASS_SETTINGS = settings(max_examples=20, deadline=None)

# --- strategies derived from the wire declarations -----------------------------------------

FIXED_RANGE = {
    "B": (0, 0xFF),
    "H": (0, 0xFFFF),
    "I": (0, 0xFFFF_FFFF),
    "Q": (0, 0xFFFF_FFFF_FFFF_FFFF),
    "i": (-(2**31), 2**31 - 1),
    "q": (-(2**63), 2**63 - 1),
}
MAX_TEXT_CHARS = 60  # ≤ 240 UTF-8 bytes, inside the 255-byte wire limit
MAX_LIST_ITEMS = 5
MAX_BLOB_BYTES = 64  # a sealed record in the strategy; the codec allows its declared maximum


def _marker(model: type[WireModel], name: str) -> Fixed | Text | ListOf | Octets | Blob:
    field = model.model_fields[name]
    kinds = Fixed | Text | ListOf | Octets | Blob
    marker = next(m for m in field.metadata if isinstance(m, kinds))
    assert isinstance(marker, kinds)
    return marker


def _text_chars(marker: Text) -> int:
    """The most characters of any UTF-8 width that fit the field's bytes (4 bytes each)."""
    return min(MAX_TEXT_CHARS, marker.max_bytes // 4)


def _list_item(model: type[WireModel], name: str) -> type[WireModel]:
    (item,) = typing.get_args(model.model_fields[name].annotation)
    assert issubclass(item, WireModel)
    return typing.cast(type[WireModel], item)


@cache
def worst_case_size(model: type[WireModel], *, empty_lists: bool = False) -> int:
    """Largest payload the strategy for ``model`` can produce."""
    size = 0
    for name in model.model_fields:
        marker = _marker(model, name)
        if isinstance(marker, Fixed):
            size += struct.calcsize("<" + marker.fmt)
        elif isinstance(marker, Octets):
            size += marker.length
        elif isinstance(marker, Text):
            size += 1 + 4 * _text_chars(marker)
        elif isinstance(marker, Blob):
            size += 2 + MAX_BLOB_BYTES
        else:
            items = 0 if empty_lists else list_max_items(model, name)
            size += 1 + items * worst_case_size(_list_item(model, name))
    return size


@cache
def list_max_items(model: type[WireModel], name: str) -> int:
    """Longest list the strategy generates for ``name``, so the payload stays ≤ MAX_PAYLOAD."""
    lists = sum(isinstance(_marker(model, n), ListOf) for n in model.model_fields)
    budget = (MAX_PAYLOAD - worst_case_size(model, empty_lists=True)) // lists
    return min(MAX_LIST_ITEMS, budget // worst_case_size(_list_item(model, name)))


def _integers(model: type[WireModel], name: str, fmt: str) -> st.SearchStrategy[int]:
    low, high = FIXED_RANGE[fmt]
    for bound in model.model_fields[name].metadata:
        if isinstance(bound, annotated_types.Ge):
            low = max(low, int(typing.cast(int, bound.ge)))
        elif isinstance(bound, annotated_types.Le):
            high = min(high, int(typing.cast(int, bound.le)))
    return st.integers(low, high)


@cache
def records(model: type[WireModel]) -> st.SearchStrategy[Any]:
    """Any valid instance of ``model``, built from its fields' wire markers and bounds."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, field in model.model_fields.items():
        marker = _marker(model, name)
        annotation = field.annotation
        if isinstance(marker, Fixed):
            if isinstance(annotation, type) and issubclass(annotation, IntEnum):
                fields[name] = st.sampled_from(list(annotation))
            elif marker.fmt == "?":
                fields[name] = st.booleans()
            else:
                fields[name] = _integers(model, name, marker.fmt)
        elif isinstance(marker, Octets):
            fields[name] = st.binary(min_size=marker.length, max_size=marker.length)
        elif isinstance(marker, Text):
            fields[name] = st.text(st.characters(codec="utf-8"), max_size=_text_chars(marker))
        elif isinstance(marker, Blob):
            fields[name] = st.binary(max_size=MAX_BLOB_BYTES)
        else:
            item = _list_item(model, name)
            fields[name] = st.lists(records(item), max_size=list_max_items(model, name))
    return st.builds(model, **fields)


def messages_of(cls: type[Message]) -> st.SearchStrategy[Message]:
    return typing.cast(st.SearchStrategy[Message], records(cls))


any_message: st.SearchStrategy[Message] = st.one_of([messages_of(c) for c in MESSAGE_CLASSES])
seqs = st.integers(0, 0xFFFF)


def wire(message: Message, seq: int) -> bytes:
    return encode_frame(to_frame(message, seq))


def test_strategies_respect_the_payload_limit_and_generate_lists() -> None:
    for cls in MESSAGE_CLASSES:
        assert worst_case_size(cls) <= MAX_PAYLOAD, cls.__name__
        for name in cls.model_fields:
            if isinstance(_marker(cls, name), ListOf):
                assert list_max_items(cls, name) >= 1, f"{cls.__name__}.{name}"


# --- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
@PER_CLASS_SETTINGS
@given(data=st.data(), seq=seqs)
def test_every_message_round_trips_through_a_frame(
    cls: type[Message], data: st.DataObject, seq: int
) -> None:
    message = data.draw(messages_of(cls))
    payload = encode_payload(message)
    assert len(payload) <= MAX_PAYLOAD
    assert decode_payload(cls, payload) == message

    encoded = wire(message, seq)
    assert encoded.index(0) == len(encoded) - 1, "the delimiter is the only zero byte"
    assert len(encoded) <= MAX_ENCODED + 1
    decoder = StreamDecoder()
    (frame,) = decoder.feed(encoded)
    assert frame.seq == seq
    assert frame.msg_type == cls.TYPE
    assert frame.is_response == cls.IS_RESPONSE
    assert (FrameFlags.NAK in frame.flags) == (cls is Nak)
    decoded = from_frame(frame)
    assert type(decoded) is cls
    assert decoded == message


# --- the stream decoder --------------------------------------------------------------------

message_lists = st.lists(st.tuples(any_message, seqs), min_size=1, max_size=4)


@SETTINGS
@given(items=message_lists)
def test_frames_fed_one_byte_at_a_time_all_arrive_in_order(
    items: list[tuple[Message, int]],
) -> None:
    stream = b"".join(wire(m, s) for m, s in items)
    decoder = StreamDecoder()
    frames: list[Frame] = []
    for i in range(len(stream)):
        frames += decoder.feed(stream[i : i + 1])
    assert [(from_frame(f), f.seq) for f in frames] == items
    assert decoder.frames_rejected == 0
    assert not decoder.has_partial


@SETTINGS
@given(items=message_lists, data=st.data())
def test_frames_in_random_chunks_all_arrive_in_order(
    items: list[tuple[Message, int]], data: st.DataObject
) -> None:
    stream = b"".join(wire(m, s) for m, s in items)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=20)))
    bounds = [0, *cuts, len(stream)]
    decoder = StreamDecoder()
    frames: list[Frame] = []
    for start, end in itertools.pairwise(bounds):
        frames += decoder.feed(stream[start:end])
    assert [(from_frame(f), f.seq) for f in frames] == items
    assert decoder.frames_decoded == len(items)
    assert decoder.frames_rejected == 0


garbage_with_zeros = st.binary(max_size=64)
garbage_without_zeros = st.binary(max_size=64).map(lambda b: b.replace(b"\x00", b"\x5a"))


@pytest.mark.parametrize(
    "garbage", [garbage_with_zeros, garbage_without_zeros], ids=["with-zeros", "no-zeros"]
)
@SETTINGS
@given(data=st.data(), items=message_lists)
def test_every_frame_after_garbage_and_a_delimiter_is_recovered(
    garbage: st.SearchStrategy[bytes], data: st.DataObject, items: list[tuple[Message, int]]
) -> None:
    stream = b""
    for message, seq in items:
        stream += data.draw(garbage) + b"\x00" + wire(message, seq)
    stream += data.draw(garbage)  # trailing noise, never terminated
    decoder = StreamDecoder()
    frames = decoder.feed(stream)
    assert [(from_frame(f), f.seq) for f in frames] == items


@SETTINGS
@given(
    noise=st.binary(min_size=1, max_size=64).map(lambda b: b.replace(b"\x00", b"\xa5")),
    first=st.tuples(any_message, seqs),
    second=st.tuples(any_message, seqs),
)
def test_garbage_glued_to_a_frame_loses_only_that_frame(
    noise: bytes, first: tuple[Message, int], second: tuple[Message, int]
) -> None:
    decoder = StreamDecoder()
    frames = decoder.feed(noise + wire(*first) + wire(*second))
    assert [(from_frame(f), f.seq) for f in frames] == [second]
    assert decoder.frames_rejected == 1


@SETTINGS
@given(message=any_message, seq=seqs, data=st.data())
def test_a_single_flipped_bit_is_never_accepted(
    message: Message, seq: int, data: st.DataObject
) -> None:
    encoded = bytearray(wire(message, seq))
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    decoder = StreamDecoder()
    # The extra delimiter ends the frame even if the flipped bit was in the delimiter.
    frames = decoder.feed(bytes(encoded) + b"\x00")
    assert frames == []
    assert decoder.frames_rejected >= 1
    assert decoder.frames_decoded == 0


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
@PER_CLASS_SETTINGS
@given(data=st.data())
def test_every_truncation_and_extension_of_a_payload_is_a_decode_error(
    cls: type[Message], data: st.DataObject
) -> None:
    payload = encode_payload(data.draw(messages_of(cls)))
    for cut in range(len(payload)):
        with pytest.raises(DecodeError):
            decode_payload(cls, payload[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=8))
    with pytest.raises(DecodeError, match="trailing"):
        decode_payload(cls, payload + extra)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
@PER_CLASS_SETTINGS
@given(payload=st.binary(max_size=128))
def test_random_payload_bytes_decode_or_raise_decode_error(
    cls: type[Message], payload: bytes
) -> None:
    try:
        decoded = decode_payload(cls, payload)
    except DecodeError:
        return
    # Whatever decodes is a valid message that survives its own round trip.
    assert decode_payload(cls, encode_payload(decoded)) == decoded


@SETTINGS
@given(
    msg_type=st.integers(0, 0xFF),
    flags=st.integers(0, 0xFF).map(lambda f: FrameFlags(f & ~FrameFlags.AUTHENTICATED)),
    payload=st.binary(max_size=64),
)
def test_from_frame_raises_only_decode_error(
    msg_type: int, flags: FrameFlags, payload: bytes
) -> None:
    frame = Frame(msg_type=msg_type, seq=1, payload=payload, flags=flags)
    try:
        message = from_frame(frame)
    except DecodeError:
        return
    assert msg_type == message.TYPE
    assert frame.is_response == message.IS_RESPONSE


@SETTINGS
@given(data=st.binary(max_size=2 * MAX_ENCODED))
def test_random_bytes_never_break_the_stream_decoder(data: bytes) -> None:
    decoder = StreamDecoder()
    frames = decoder.feed(data)
    candidates = [c for c in data.split(b"\x00")[:-1] if c]
    assert len(frames) + decoder.frames_rejected == len(candidates)
    # Whatever the noise left in the buffer, a delimiter and a frame bring it back in step.
    good = SetRateRequest(
        request_id=7, dose_ng_per_day=1_500_000, believed_dose_ng_per_day=1_400_000
    )
    assert [from_frame(f) for f in decoder.feed(b"\x00" + wire(good, 3))] == [good]


# --- COBS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x00", b"\x02\x11\x01"),
        (bytes(range(1, 254)), b"\xfe" + bytes(range(1, 254))),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
        (b"\x00" + bytes(range(1, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x01"),
        (bytes(range(1, 255)) * 2, (b"\xff" + bytes(range(1, 255))) * 2 + b"\x01"),
        (bytes(300), b"\x01" * 301),
    ],
    ids=[
        "empty",
        "zero",
        "two-zeros",
        "mixed",
        "trailing-zero",
        "253",
        "254",
        "255",
        "zero+254",
        "508",
        "all-zeros",
    ],
)
def test_cobs_edge_cases(data: bytes, expected: bytes) -> None:
    encoded = cobs_encode(data)
    assert encoded == expected
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(encoded) == data


def test_cobs_decoder_accepts_a_final_full_block_without_trailing_code() -> None:
    data = bytes(range(1, 255))
    assert cobs_decode(b"\xff" + data) == data


@SETTINGS
@given(data=st.binary(max_size=1200))
def test_cobs_round_trips_any_bytes(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


@SETTINGS
@given(
    encoded=st.binary(max_size=600)
    | st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\x02"))
)
def test_cobs_decoding_any_bytes_agrees_with_reading_block_by_block(encoded: bytes) -> None:
    """The decoder's quick path (following the chain of distances) accepts exactly what a
    block-by-block reading accepts, with the same bytes, and refuses the rest for the same
    reason."""

    def verdict(decode: Callable[[bytes], bytes]) -> bytes | str:
        try:
            return decode(encoded)
        except FrameError as error:
            return error.reason

    assert verdict(cobs_decode) == verdict(_cobs_decode_blocks)


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [(b"\x05\x11\x22", "past the end"), (b"\x03\x11\x00", "zero byte"), (b"\x00", "zero byte")],
)
def test_cobs_decoder_rejects_malformed_input(encoded: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        cobs_decode(encoded)


# --- documented sizes ----------------------------------------------------------------------


def test_the_refill_and_limits_payloads_have_their_documented_sizes() -> None:
    """docs/protocol.md §5.3: REFILL 27 bytes; READ_LIMITS' answer 59 bytes plus its texts."""
    refill = RefillRequest(
        request_id=1,
        residual_withdrawn_ul=2,
        volume_added_ul=3,
        concentration_ng_per_ml=4,
        discrepancy_acknowledged=True,
        confirm_large_change=True,
    )
    payload = encode_payload(refill)
    assert len(payload) == 27
    assert payload[25:] == b"\x01\x01"  # the two confirmations, last
    limits = LimitsResponse(
        drug="morphine",
        min_concentration_ng_per_ml=1,
        max_concentration_ng_per_ml=2,
        max_dose_ng_per_day=3,
        max_step_pct=4,
        max_step_ng_per_day=5,
        min_increase_interval_s=6,
        bolus_max_ng=7,
        bolus_lockout_s=8,
        max_boluses_per_day=9,
        min_flow_nl_per_day=10,
        low_reservoir_ul=11,
        large_change_factor=12,
        display_unit="mg",
        refill_tolerance_ul=13,
        bridge_bolus_max_ng=14,
        withdrawal_risk=WithdrawalRisk.BACLOFEN,
        retitration_interval_s=15,
        max_refill_interval_s=16,
    )
    encoded = encode_payload(limits)
    assert len(encoded) == 59 + len("morphine") + len("mg") == 69
    assert encoded[-9] == WithdrawalRisk.BACLOFEN
    assert encoded[-4:] == (16).to_bytes(4, "little")  # max_refill_interval_s, last
    assert decode_payload(LimitsResponse, encoded) == limits
    with pytest.raises(DecodeError, match="withdrawal_risk"):
        decode_payload(LimitsResponse, encoded[:-9] + b"\x03" + encoded[-8:])


# --- frame limits and checks ---------------------------------------------------------------


def test_a_payload_of_max_size_is_sent_and_one_byte_more_is_refused() -> None:
    largest = Frame(msg_type=MsgType.STATUS, seq=1, payload=b"\xff" * MAX_PAYLOAD)
    assert StreamDecoder().feed(encode_frame(largest)) == [largest]
    with pytest.raises(FrameError, match="exceeds"):
        encode_frame(Frame(msg_type=MsgType.STATUS, seq=1, payload=b"\xff" * (MAX_PAYLOAD + 1)))


def test_the_largest_legal_frame_fits_the_receivers_limit() -> None:
    # No zero bytes anywhere but the length field: the worst case for COBS overhead.
    largest = Frame(
        msg_type=0xFF,
        seq=0xFFFF,
        payload=b"\xff" * MAX_PAYLOAD,
        flags=FrameFlags(0xFF),
        session_id=0xFFFF_FFFF,
        auth_trailer=b"\xff" * AUTH_TRAILER_LEN,
    )
    encoded = encode_frame(largest)
    assert len(encoded) - 1 <= MAX_ENCODED
    decoder = StreamDecoder()
    assert decoder.feed(encoded) == [largest]


def test_authentication_trailer_and_flag_must_agree() -> None:
    with pytest.raises(FrameError, match="trailer"):
        encode_frame(Frame(msg_type=1, seq=1, flags=FrameFlags.AUTHENTICATED))
    with pytest.raises(FrameError, match="trailer"):
        encode_frame(Frame(msg_type=1, seq=1, auth_trailer=bytes(AUTH_TRAILER_LEN)))


def _body(version: int, payload_len: int, payload: bytes, flags: int = 0) -> bytes:
    body = HEADER.pack(version, MsgType.STATUS, flags, 1, 0, payload_len) + payload
    return cobs_encode(body + struct.pack("<I", zlib.crc32(body)))


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        (_body(2, 0, b""), "version"),
        (_body(1, 3, b"ab"), "length"),
        (_body(1, 1, b"ab"), "length"),
        (_body(1, 0, b"", flags=FrameFlags.AUTHENTICATED), "length"),
        (cobs_encode(b"\x01\x02\x00\x01"), "shorter"),
    ],
    ids=["version-2", "length-too-big", "length-too-small", "missing-trailer", "too-short"],
)
def test_frames_failing_a_header_check_are_rejected(encoded: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_body(encoded)
    decoder = StreamDecoder()
    assert decoder.feed(encoded + b"\x00") == []
    assert decoder.frames_rejected == 1
    assert decoder.last_error is not None
    assert reason in decoder.last_error


def test_unknown_message_types_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="unknown request type 0x3F"):
        from_frame(Frame(msg_type=0x3F, seq=1))
    with pytest.raises(DecodeError, match="unknown response type 0x3F"):
        from_frame(Frame(msg_type=0x3F, seq=1, flags=FrameFlags.RESPONSE))
    # NAK is a response type only: as a request it is unknown.
    with pytest.raises(DecodeError, match="unknown request type 0x7F"):
        from_frame(Frame(msg_type=MsgType.NAK, seq=1, flags=FrameFlags.NAK))


def test_nak_flag_must_match_the_nak_message_type() -> None:
    nak = to_frame(Nak(code=NakCode.STALE_DOSE, limit=1_400_000, detail="stale"), 5)
    assert from_frame(nak) == Nak(code=NakCode.STALE_DOSE, limit=1_400_000, detail="stale")
    with pytest.raises(DecodeError, match="NAK flag"):
        from_frame(Frame(nak.msg_type, nak.seq, nak.payload, FrameFlags.RESPONSE))
    status = to_frame(
        StatusResponse.model_validate(
            {
                "state": 1,
                "stop_reason": 0,
                "dose_ng_per_day": 1_400_000,
                "flow_nl_per_day": 56_000,
                "reservoir_ul": 18_000,
                "battery_pct": 90,
                "pump_time_s": 1_772_443_800,
                "last_rate_change_s": 1_767_225_600,
                "low_reservoir_projected_s": 1_790_000_000,
                "bolus_active": False,
                "alarms": [],
            }
        ),
        6,
    )
    assert isinstance(from_frame(status), StatusResponse)
    flags = status.flags | FrameFlags.NAK
    with pytest.raises(DecodeError, match="NAK flag"):
        from_frame(Frame(status.msg_type, status.seq, status.payload, flags))


def test_out_of_range_values_are_decode_errors() -> None:
    request = to_frame(StatusRequest(), 1)
    assert from_frame(request) == StatusRequest()
    read_events = MsgType.READ_EVENTS
    for max_count in (0, 65):
        frame = Frame(read_events, 1, struct.pack("<IB", 0, max_count))
        with pytest.raises(DecodeError, match="max_count"):
            from_frame(frame)
    bad_enum = Frame(MsgType.ACK_ALARM, 1, struct.pack("<QB", 1, 99))
    with pytest.raises(DecodeError, match="code"):
        from_frame(bad_enum)
    bad_text = Nak(code=NakCode.STALE_DOSE, limit=0, detail="x")
    payload = encode_payload(bad_text)[:-1] + b"\xff"  # not UTF-8
    with pytest.raises(DecodeError, match="malformed"):
        decode_payload(Nak, payload)


def test_overlong_input_is_discarded_and_the_decoder_recovers() -> None:
    good = SetRateRequest(
        request_id=9, dose_ng_per_day=1_500_000, believed_dose_ng_per_day=1_400_000
    )
    decoder = StreamDecoder()
    noise = b"\x5a" * (MAX_ENCODED + 1)
    for start in range(0, len(noise), 100):
        assert decoder.feed(noise[start : start + 100]) == []
    assert decoder.has_partial
    # Still discarding: a complete frame glued onto the noise is part of the noise.
    assert decoder.feed(wire(good, 1)) == []
    assert decoder.frames_rejected == 1
    assert decoder.last_error == "frame longer than the maximum"
    assert not decoder.has_partial
    assert [from_frame(f) for f in decoder.feed(wire(good, 2))] == [good]


def test_input_of_exactly_the_maximum_length_is_still_checked() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(b"\x5a" * MAX_ENCODED + b"\x00") == []
    assert decoder.frames_rejected == 1
    assert decoder.last_error != "frame longer than the maximum"


def test_reset_discards_a_partial_frame() -> None:
    good = StatusRequest()
    encoded = wire(good, 4)
    decoder = StreamDecoder()
    assert decoder.feed(encoded[:5]) == []
    assert decoder.has_partial
    decoder.reset()  # the inter-byte timeout
    assert not decoder.has_partial
    assert [from_frame(f) for f in decoder.feed(encoded)] == [good]
    assert decoder.frames_rejected == 0


def test_empty_frames_between_delimiters_are_ignored() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(b"\x00\x00\x00") == []
    assert decoder.frames_rejected == 0
