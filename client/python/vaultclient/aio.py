"""The asyncio client: the same methods as Client, awaited.

One connection carries every call: each request gets an id, a reader task
matches replies to waiting futures by id, so any number of calls may be in
flight at once (asyncio.gather of many calls is a pipeline).

    async with AsyncClient() as vault:
        rec = await vault.create(purpose="transactional", fields={"email": "a@b.example"})
"""
from __future__ import annotations

import asyncio
import itertools
from typing import Any, Awaitable, Dict, Optional, Sequence, List, Union

from . import connect as _connect
from .errors import (ServerIdentityError, VaultError, VaultIOError, VaultTimeout,
                     error_from_wire)
from .ops import Result, _Ops
from .protocol import (DEFAULT_MAX_REPLY_BYTES, DEFAULT_MAX_REQUEST_BYTES, FrameReader,
                       encode_request, split_reply)


class AsyncClient(_Ops[Awaitable[Result]]):
    """An asyncio client of vaultd. Arguments as Client's; pool_size is the
    number of connections calls are spread over (round robin). Connects on
    first use or on `async with`."""

    def __init__(self, socket_path: Optional[str] = None, *, server_uid: Optional[int] = None,
                 timeout: Optional[float] = 30.0, pool_size: int = 1,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> None:
        if pool_size < 1:
            raise ValueError("pool size must be at least 1")
        self.socket_path = _connect.socket_path(socket_path)
        self.server_uid = server_uid
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self.max_reply_bytes = max_reply_bytes
        self._conns: List[Optional[AsyncConnection]] = [None] * pool_size
        self._next = 0
        self._lock: Optional[asyncio.Lock] = None

    async def _conn(self) -> "AsyncConnection":
        i = self._next
        self._next = (i + 1) % len(self._conns)
        c = self._conns[i]
        if c is None or c.closed:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                c = self._conns[i]
                if c is None or c.closed:
                    c = await AsyncConnection.open(
                        self.socket_path, server_uid=self.server_uid, timeout=self.timeout,
                        max_request_bytes=self.max_request_bytes,
                        max_reply_bytes=self.max_reply_bytes)
                    self._conns[i] = c
        return c

    async def _request(self, op: str, args: Dict[str, Any]) -> Result:
        conn = await self._conn()
        return await conn.call(op, args)

    def _call(self, op: str, args: Dict[str, Any]) -> Awaitable[Result]:
        return self._request(op, args)

    async def call(self, op: str, **args: Any) -> Result:
        """Any operation by name, with its wire arguments."""
        return await self._request(op, args)

    async def batch(self, op: str, args: Sequence[Dict[str, Any]]
                    ) -> List[Union[Result, VaultError]]:
        """The same operation with many argument maps, all in flight at
        once: each result map or VaultError, in order."""
        conn = await self._conn()
        got = await asyncio.gather(*(conn.call(op, dict(a)) for a in args),
                                   return_exceptions=True)
        out: List[Union[Result, VaultError]] = []
        for g in got:
            if isinstance(g, BaseException) and not isinstance(g, VaultError):
                raise g
            out.append(g)
        return out

    async def connect(self) -> "AsyncClient":
        """Open the first connection now (checks the server's uid)."""
        await self._conn()
        return self

    async def close(self) -> None:
        for i, c in enumerate(self._conns):
            if c is not None:
                await c.close()
            self._conns[i] = None

    async def __aenter__(self) -> "AsyncClient":
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncConnection:
    """One connection; calls from any number of tasks share it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeout: Optional[float], max_request_bytes: int,
                 max_reply_bytes: int) -> None:
        self._reader = reader
        self._writer = writer
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self._frames = FrameReader(max_reply_bytes)
        self._ids = itertools.count(1)
        self._waiting: Dict[int, asyncio.Future[Dict[str, Any]]] = {}
        self._fatal: Optional[VaultError] = None
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(cls, path: str, *, server_uid: Optional[int] = None,
                   timeout: Optional[float] = 30.0,
                   max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                   max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> "AsyncConnection":
        want = _connect.expected_uid(path, server_uid)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(path, limit=1 << 20), timeout)
        except asyncio.TimeoutError:
            raise VaultTimeout(f"cannot connect to {path} within {timeout} s") from None
        except OSError as e:
            raise VaultIOError(f"cannot connect to {path}: {e.strerror or e}") from None
        sock = writer.get_extra_info("socket")
        try:
            _connect.check_peer(sock, want)  # before a byte is sent
        except (ServerIdentityError, OSError):
            writer.close()
            raise
        return cls(reader, writer, timeout, max_request_bytes, max_reply_bytes)

    @property
    def closed(self) -> bool:
        return self._fatal is not None

    def _fail_all(self, err: VaultError) -> None:
        if self._fatal is None:
            self._fatal = err
        for f in self._waiting.values():
            if not f.done():
                f.set_exception(err)
                # A caller that gave up (timeout, cancel) never reads it:
                # mark it seen, so asyncio does not log it; waiters still get it.
                f.exception()
        self._waiting.clear()
        self._writer.close()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(1 << 18)
                if not data:
                    self._fail_all(VaultIOError("the server closed the connection"))
                    return
                for r in self._frames.feed(data):
                    rid = int(r["id"])
                    if rid == 0:
                        _, _, err = split_reply(r)
                        self._fail_all(error_from_wire(err))
                        return
                    f = self._waiting.pop(rid, None)
                    if f is not None and not f.done():
                        f.set_result(r)
        except VaultError as e:
            self._fail_all(e)
        except OSError as e:
            self._fail_all(VaultIOError(f"receive failed: {e.strerror or e}"))
        except asyncio.CancelledError:
            self._fail_all(VaultIOError("the connection is closed"))
            raise

    async def call(self, op: str, args: Dict[str, Any]) -> Result:
        if self._fatal is not None:
            raise self._fatal
        rid = next(self._ids)
        frame = encode_request(op, rid, args, self.max_request_bytes)
        fut: asyncio.Future[Dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            self._writer.write(frame)
            await self._writer.drain()
        except OSError as e:
            self._waiting.pop(rid, None)
            await asyncio.sleep(0)  # let the reader deliver the server's reason first
            if self._fatal is not None:
                raise self._fatal from None
            err = VaultIOError(f"send failed: {e.strerror or e}")
            self._fail_all(err)
            raise err from None
        try:
            reply = await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except asyncio.TimeoutError:
            # A late reply cannot be told apart from later ones' order: close.
            err = VaultTimeout(f"no reply within {self.timeout} s; the connection is closed")
            self._fail_all(err)
            raise err from None
        _, ok, body = split_reply(reply)
        if ok:
            assert isinstance(body, dict)
            return body
        raise error_from_wire(body, rid)

    async def close(self) -> None:
        if self._fatal is None:
            self._fatal = VaultIOError("the connection is closed")
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass


__all__ = ["AsyncClient", "AsyncConnection"]
