"""Frames and msgpack bodies (PROTOCOL.md sections 2-4).

A frame is a 4-byte big-endian length and one msgpack map. Lengths are
checked against a cap before any body byte is buffered; bodies are decoded
with msgpack limits no larger than the body itself, so a header that
declares more elements or bytes than follow cannot make us allocate.
"""
from __future__ import annotations

import struct
from typing import Any, Dict, List, Optional, Tuple

import msgpack

from .errors import ProtoFrameError, ProtoFrameTooLargeError, TooLargeError

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">I")
# The server's default request cap ([server] max_frame_bytes, 4 MiB): a
# larger request would make it close the connection, so it is refused here.
DEFAULT_MAX_REQUEST_BYTES = 4 << 20
# Replies: the largest max_frame_bytes a server may be configured with (as
# the C library's REPLY_MAX_BYTES).
DEFAULT_MAX_REPLY_BYTES = 256 << 20

Request = Dict[str, Any]
Reply = Dict[str, Any]


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtoFrameError("reply uses a msgpack ext type (the protocol has none)")


def encode_request(op: str, request_id: int, args: Dict[str, Any],
                   max_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> bytes:
    """One request frame. Arguments whose value is None are left out (the
    server's default applies); a body above max_bytes raises TooLargeError
    before anything is sent."""
    if not 0 < request_id < 1 << 64:
        raise ValueError("request ids are 1 .. 2^64-1")
    body: Dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id, "op": op}
    for k, v in args.items():
        if v is not None:
            body[k] = v
    data = msgpack.packb(body, use_bin_type=True)
    assert isinstance(data, bytes)
    if len(data) > max_bytes:
        raise TooLargeError(
            f"request of {len(data)} bytes is above the frame limit of {max_bytes}")
    return HEADER.pack(len(data)) + data


def decode_body(body: bytes) -> Reply:
    """Decode one reply body: exactly one msgpack map with a uint id."""
    n = len(body)
    try:
        obj = msgpack.unpackb(
            body, raw=False, use_list=True, strict_map_key=False, ext_hook=_no_ext,
            max_str_len=n, max_bin_len=n, max_array_len=n, max_map_len=n, max_ext_len=0)
    except ProtoFrameError:
        raise
    except Exception as e:  # ExtraData, FormatError, StackError, ValueError...
        raise ProtoFrameError(f"reply is not well-formed msgpack ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise ProtoFrameError("reply is not a msgpack map")
    rid = obj.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid < 0:
        raise ProtoFrameError("reply without a uint id")
    return obj


class FrameReader:
    """Splits a byte stream into reply bodies, refusing oversized lengths
    as soon as the 4 header bytes are in."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._need: Optional[int] = None

    def feed(self, data: bytes) -> List[Reply]:
        """Add bytes; return the replies now complete, in order."""
        self._buf += data
        out: List[Reply] = []
        while True:
            if self._need is None:
                if len(self._buf) < 4:
                    return out
                (n,) = HEADER.unpack_from(self._buf, 0)
                if n == 0:
                    raise ProtoFrameError("empty reply frame")
                if n > self.max_bytes:
                    raise ProtoFrameTooLargeError(
                        f"reply frame of {n} bytes is above the limit of {self.max_bytes}")
                del self._buf[:4]
                self._need = n
            if len(self._buf) < self._need:
                return out
            body = bytes(self._buf[:self._need])
            del self._buf[:self._need]
            self._need = None
            out.append(decode_body(body))

    def wanted(self) -> int:
        """Bytes still missing for the frame being read (at least 1)."""
        if self._need is None:
            return max(1, 4 - len(self._buf))
        return max(1, self._need - len(self._buf))

    @property
    def partial(self) -> bool:
        """True while a frame has begun and is not complete."""
        return self._need is not None or len(self._buf) > 0


def split_reply(reply: Reply) -> Tuple[int, bool, Any]:
    """(id, ok, result or error map) of a decoded reply."""
    rid = int(reply["id"])
    ok = reply.get("ok")
    if ok is True:
        result = reply.get("result")
        if not isinstance(result, dict):
            raise ProtoFrameError("successful reply without a result map")
        return rid, True, result
    err = reply.get("error")
    if ok is not False or not isinstance(err, dict):
        raise ProtoFrameError("reply is neither a result nor an error")
    return rid, False, err
