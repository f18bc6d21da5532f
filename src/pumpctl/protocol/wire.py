"""Wire types: ``Annotated`` markers that tell the codec how a model field is laid out.

A message is declared once, as a pydantic model whose fields carry these markers; the codec
derives the byte layout from the declaration, so the spec, the validation and the encoding
cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class Fixed:
    """A little-endian fixed-size integer with its ``struct`` format letter."""

    fmt: str


@dataclass(frozen=True, slots=True)
class Text:
    """UTF-8 text preceded by its length in one byte."""

    max_bytes: int = 255


@dataclass(frozen=True, slots=True)
class ListOf:
    """A sequence of nested records preceded by its count in one byte."""

    max_items: int = 255


@dataclass(frozen=True, slots=True)
class Octets:
    """A fixed number of raw bytes (nonces, proofs)."""

    length: int


@dataclass(frozen=True, slots=True)
class Blob:
    """Raw bytes of varying length (a sealed record), preceded by their length as a u16."""

    max_bytes: int


U8 = Annotated[int, Fixed("B"), Field(ge=0, le=0xFF)]
U16 = Annotated[int, Fixed("H"), Field(ge=0, le=0xFFFF)]
U32 = Annotated[int, Fixed("I"), Field(ge=0, le=0xFFFF_FFFF)]
U64 = Annotated[int, Fixed("Q"), Field(ge=0, le=0xFFFF_FFFF_FFFF_FFFF)]
I32 = Annotated[int, Fixed("i"), Field(ge=-(2**31), le=2**31 - 1)]
I64 = Annotated[int, Fixed("q"), Field(ge=-(2**63), le=2**63 - 1)]
Bool = Annotated[bool, Fixed("?")]
ShortText = Annotated[str, Text(), Field(max_length=255)]
Bytes16 = Annotated[bytes, Octets(16), Field(min_length=16, max_length=16)]
Bytes4 = Annotated[bytes, Octets(4), Field(min_length=4, max_length=4)]
Bytes32 = Annotated[bytes, Octets(32), Field(min_length=32, max_length=32)]


class WireModel(BaseModel):
    """A record with a fixed wire layout; field order is wire order."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_enum_values=False,
        ser_json_bytes="hex",
        val_json_bytes="hex",
        # Build each model's validator on first use: a status read needs a handful of the
        # vocabulary, and building them all costs more than the read (benchmarks/).
        defer_build=True,
    )
