"""Wire helpers shared by the shim and its client: JSON lines and attach frames.

Layer: runtime (3). May import: nothing from hako (the shim must stay lean).

The shim keeps its memory small, so this module uses CPython's C accelerator ``_json``
directly instead of the ``json`` package (which pulls in ``re``). Protocol:

- every request and reply is one JSON object on one line (``\\n``-terminated);
- attach output is framed like Docker's multiplexed stream: 8 header bytes
  ``[stream, 0, 0, 0, uint32 big-endian length]`` then the payload (stream 1 stdout,
  2 stderr).
"""

from __future__ import annotations

import _json

STDOUT = 1
STDERR = 2
MAX_LINE = 1 << 20


class _DecodeContext:
    """The attributes the C scanner reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


_scan = _json.make_scanner(_DecodeContext())
_encode = _json.make_encoder(
    None, None, _json.encode_basestring, None, ":", ",", False, False, True
)
_WS = " \t\r\n"


def loads(text: str | bytes) -> object:
    """Decode one JSON document.

    Args:
        text: the document (bytes are decoded as UTF-8).

    Returns:
        The decoded value.

    Raises:
        ValueError: the text is not exactly one JSON document.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"invalid JSON at offset {exc.value}") from None
    if text[end:].strip(_WS):
        raise ValueError(f"extra data after JSON at offset {end}")
    return obj


def dumps(obj: object) -> str:
    """Encode ``obj`` as compact JSON (non-ASCII kept as is)."""
    return "".join(_encode(obj, 0))


def line(obj: object) -> bytes:
    """Encode ``obj`` as one UTF-8 JSON line, newline included."""
    return (dumps(obj) + "\n").encode("utf-8")


def frame(stream: int, payload: bytes) -> bytes:
    """Prefix ``payload`` with Docker's 8-byte multiplexed-stream header."""
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


def parse_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """Split complete frames off the front of ``buf`` (consumed in place).

    Args:
        buf: received bytes; complete frames are removed from it.

    Returns:
        ``(stream, payload)`` for every complete frame, in order.
    """
    out = []
    while len(buf) >= 8:
        size = int.from_bytes(buf[4:8], "big")
        if len(buf) < 8 + size:
            break
        out.append((buf[0], bytes(buf[8 : 8 + size])))
        del buf[: 8 + size]
    return out
