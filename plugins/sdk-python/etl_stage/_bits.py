"""Arrow bitmaps (validity and bool data) to and from lists of bools, LSB first.

Pure Python without numpy, so these lean on C-level loops: a 256-entry table to unpack, and
``int(text, 2).to_bytes`` to pack (base-2 parsing is linear in CPython).
"""

from __future__ import annotations

from itertools import chain
from typing import Sequence

# The 8 bits of every byte value, least significant first (Arrow's bit order).
_BYTE_BITS = tuple(tuple(bool(value >> bit & 1) for bit in range(8)) for value in range(256))
_ASCII_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def unpack_bits(buffer, length: int, offset: int = 0) -> list[bool]:
    """The ``length`` bits of ``buffer`` starting at bit ``offset``."""
    if length == 0:
        return []
    first = offset >> 3
    shift = offset & 7
    last = (offset + length + 7) >> 3
    bits = list(chain.from_iterable(map(_BYTE_BITS.__getitem__, buffer[first:last])))
    if shift or len(bits) != length:
        bits = bits[shift : shift + length]
    return bits


def pack_bits(bits: Sequence[bool]) -> bytes:
    """A bitmap of ``bits`` (each truthy or not), ``ceil(len / 8)`` bytes, trailing bits zero."""
    count = len(bits)
    if count == 0:
        return b""
    # One byte per bit (0/1), last bit first, as the text "0"/"1" that int() parses in base 2.
    text = bytes(map(bool, bits))[::-1].translate(_ASCII_DIGITS)
    return int(text, 2).to_bytes((count + 7) >> 3, "little")


def count_set(buffer, length: int) -> int:
    """How many of the first ``length`` bits of ``buffer`` are set."""
    whole, rest = divmod(length, 8)
    total = int.from_bytes(buffer[:whole], "little").bit_count() if whole else 0
    if rest:
        total += (buffer[whole] & ((1 << rest) - 1)).bit_count()
    return total
