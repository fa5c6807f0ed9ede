"""The Teams app package's two icons, drawn in code and written as PNG with the standard library.

Teams asks for a 192×192 full-colour icon and a 32×32 outline icon that is white on a
transparent background. Both show the same mark: three people in a circle, a team meeting.
Edges are anti-aliased from the shapes' signed distances, one evaluation per pixel, so the
pictures come out the same, byte for byte, on every machine.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable

ACCENT = (0x2C, 0x4A, 0x6E)  # the Slack app's background colour; the manifest's accentColor
WHITE = (0xFF, 0xFF, 0xFF)
COLOR_SIZE = 192
OUTLINE_SIZE = 32
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Distance = Callable[[float, float], float]


def accent_hex() -> str:
    return "#" + "".join(f"{c:02x}" for c in ACCENT)


def _mark(size: int, *, ring: float, ring_width: float, dot: float, dot_distance: float) -> Distance:
    """Signed distance (in pixels; negative inside) to the mark: a ring and three dots inside it,
    one on top and two below. Sizes are fractions of the icon's side."""
    centre = size / 2
    r_mid, half_w = ring * size - ring_width * size / 2, ring_width * size / 2
    dot_r, spread = dot * size, dot_distance * size
    dots = [(centre + spread * math.cos(a), centre + spread * math.sin(a))
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]

    def distance(x: float, y: float) -> float:
        d_ring = abs(math.hypot(x - centre, y - centre) - r_mid) - half_w
        d_dots = min(math.hypot(x - dx, y - dy) - dot_r for dx, dy in dots)
        return min(d_ring, d_dots)

    return distance


def _coverage(distance: Distance, x: int, y: int) -> float:
    """How much of pixel (x, y) the shape covers, 0 to 1, from the distance at its centre."""
    return min(1.0, max(0.0, 0.5 - distance(x + 0.5, y + 0.5)))


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png(width: int, height: int, rows: list[bytes], *, alpha: bool) -> bytes:
    """An 8-bit RGB (or RGBA) PNG of `rows`, each row's pixels packed as bytes."""
    channels = 4 if alpha else 3
    if len(rows) != height or any(len(row) != width * channels for row in rows):
        raise ValueError("rows do not match the picture's size")
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (none) on every row
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))


def color_png() -> bytes:
    """192×192, opaque: the white mark on the accent colour, inside Teams' central safe area."""
    size = COLOR_SIZE
    mark = _mark(size, ring=0.34, ring_width=0.055, dot=0.075, dot_distance=0.15)
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            c = _coverage(mark, x, y)
            row += bytes(round(bg + (fg - bg) * c) for bg, fg in zip(ACCENT, WHITE, strict=True))
        rows.append(bytes(row))
    return png(size, size, rows, alpha=False)


def outline_png() -> bytes:
    """32×32: the mark in white on transparent, drawn larger and bolder to read at this size."""
    size = OUTLINE_SIZE
    mark = _mark(size, ring=0.48, ring_width=0.075, dot=0.11, dot_distance=0.2)
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            row += bytes((*WHITE, round(255 * _coverage(mark, x, y))))
        rows.append(bytes(row))
    return png(size, size, rows, alpha=True)
