"""The synchronous client: connections, a thread-safe pool, pipelines."""
from __future__ import annotations

import itertools
import selectors
import socket
import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import connect as _connect
from .errors import VaultError, VaultIOError, VaultTimeout, error_from_wire
from .ops import Result, _Ops
from .protocol import (DEFAULT_MAX_REPLY_BYTES, DEFAULT_MAX_REQUEST_BYTES, FrameReader,
                       encode_request, split_reply)

_RECV = 256 * 1024
# Pipelines up to this many bytes are sent at once (a Unix socket's send
# buffer holds about 208 KiB); larger ones are pumped with a selector.
_SMALL = 64 * 1024


class Connection:
    """One connection to vaultd. Not thread-safe: one thread at a time
    (Client's pool sees to that). Request ids start at 1 and grow; replies
    are matched to requests by id, so several may be in flight (run_many).

    After a timeout, a framing error or a closed stream the connection is
    broken (closed is True): a late reply could otherwise be taken for the
    answer to a later request.
    """

    def __init__(self, socket_path: Optional[str] = None, *, server_uid: Optional[int] = None,
                 timeout: Optional[float] = 30.0,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> None:
        self.path = _connect.socket_path(socket_path)
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self._sock: Optional[socket.socket] = _connect.open_socket(
            self.path, server_uid, timeout)
        self._reader = FrameReader(max_reply_bytes)
        self._ids = itertools.count(1)
        self._early: Dict[int, Dict[str, Any]] = {}
        # A connection-level error (reply id 0): every later call gets it.
        self._fatal: Optional[VaultError] = None

    @property
    def closed(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> socket.socket:
        if self._fatal is not None:
            raise self._fatal
        if self._sock is None:
            raise VaultIOError("the connection is closed")
        return self._sock

    def _broken(self, err: VaultError) -> VaultError:
        self.close()
        return err

    def _take(self, replies: List[Dict[str, Any]]) -> None:
        for r in replies:
            rid = int(r["id"])
            if rid == 0:
                _, _, err = split_reply(r)
                self._fatal = error_from_wire(err)
                self.close()
                raise self._fatal
            self._early[rid] = r

    def _recv_some(self, sock: socket.socket) -> None:
        try:
            # Never more than 1 MiB at once, whatever length the frame declared:
            # the buffer grows with the bytes that arrive, not with a header.
            data = sock.recv(max(_RECV, min(self._reader.wanted(), 1 << 20)))
        except BlockingIOError:
            raise
        except socket.timeout:
            raise self._broken(VaultTimeout(
                f"no reply within {self.timeout} s; the connection is closed")) from None
        except OSError as e:
            raise self._broken(VaultIOError(f"receive failed: {e.strerror or e}")) from None
        if not data:
            raise self._broken(VaultIOError("the server closed the connection"))
        try:
            self._take(self._reader.feed(data))
        except VaultError as e:
            raise self._broken(e) from None

    def _result(self, rid: int) -> Result:
        r = self._early.pop(rid)
        _, ok, body = split_reply(r)
        if ok:
            assert isinstance(body, dict)
            return body
        raise error_from_wire(body, rid)

    def call(self, op: str, args: Dict[str, Any]) -> Result:
        """Send one request and wait for its reply; raise its error."""
        sock = self._live()
        rid = next(self._ids)
        frame = encode_request(op, rid, args, self.max_request_bytes)
        self._send_all(sock, frame)
        while rid not in self._early:
            self._recv_some(sock)
        return self._result(rid)

    def _drain_fatal(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            data = sock.recv(_RECV)
            if data:
                self._take(self._reader.feed(data))
        except (OSError, VaultError):
            pass
        if self._fatal is not None:
            raise self._fatal

    def _send_all(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except socket.timeout:
            raise self._broken(VaultTimeout("send timed out; the connection is closed")) from None
        except OSError as e:
            # The server may have refused us and closed: its reason comes first.
            self._drain_fatal(sock)
            raise self._broken(VaultIOError(f"send failed: {e.strerror or e}")) from None

    def _pump(self, sock: socket.socket, out: bytearray, ids: List[int]) -> None:
        """Send out while reading replies, until every id in ids is answered."""
        view = memoryview(out)
        sent = 0
        nxt = 0  # ids before nxt are answered
        sel = selectors.DefaultSelector()
        sock.setblocking(False)
        try:
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while True:
                while nxt < len(ids) and ids[nxt] in self._early:
                    nxt += 1
                if nxt == len(ids):
                    break
                events = sel.select(self.timeout)
                if not events:
                    raise self._broken(VaultTimeout(
                        f"no progress within {self.timeout} s; the connection is closed"))
                for _key, mask in events:
                    if mask & selectors.EVENT_WRITE:
                        try:
                            sent += sock.send(view[sent:sent + (1 << 20)])
                        except BlockingIOError:
                            pass
                        except OSError as e:
                            self._drain_fatal(sock)
                            raise self._broken(
                                VaultIOError(f"send failed: {e.strerror or e}")) from None
                        if sent == len(out):
                            sel.modify(sock, selectors.EVENT_READ)
                    if mask & selectors.EVENT_READ:
                        try:
                            self._recv_some(sock)
                        except BlockingIOError:
                            pass
        finally:
            sel.close()
            view.release()
            if self._sock is not None:
                self._sock.settimeout(self.timeout)

    def run_many(self, calls: Sequence[Tuple[str, Dict[str, Any]]]
                 ) -> List[Union[Result, VaultError]]:
        """Pipelining: send every request without waiting, reading replies
        as they come (the server pauses reading a client that does not read,
        PROTOCOL.md 2.4), and match them by id. Returns, in request order,
        each result map or the VaultError it was answered with. A failure of
        the connection itself raises."""
        sock = self._live()
        ids: List[int] = []
        out = bytearray()
        for op, args in calls:
            rid = next(self._ids)
            ids.append(rid)
            out += encode_request(op, rid, args, self.max_request_bytes)
        if len(out) <= _SMALL:
            # Fits in the socket's send buffer: sendall cannot block on a
            # server that waits for us to read, so no selector is needed.
            self._send_all(sock, bytes(out))
            for rid in ids:
                while rid not in self._early:
                    self._recv_some(sock)
        else:
            self._pump(sock, out, ids)
        results: List[Union[Result, VaultError]] = []
        for rid in ids:
            try:
                results.append(self._result(rid))
            except VaultError as e:
                results.append(e)
        return results


class Pool:
    """A thread-safe pool of connections: at most size at once; idle ones
    are reused, broken ones dropped. Threads beyond size wait for one."""

    def __init__(self, size: int, factory: Callable[[], "Connection"]) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.size = size
        self._factory = factory
        self._idle: List[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection for the block."""
        self._slots.acquire()
        conn: Optional[Connection] = None
        try:
            with self._lock:
                if self._closed:
                    raise VaultIOError("the client is closed")
                if self._idle:
                    conn = self._idle.pop()
            if conn is None:
                conn = self._factory()
            yield conn
        finally:
            if conn is not None:
                with self._lock:
                    if conn.closed or self._closed:
                        conn.close()
                    else:
                        self._idle.append(conn)
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()


class PipelineResult:
    """The answer to one request of a pipeline, known after it runs."""

    __slots__ = ("_value", "_error", "_done")

    def __init__(self) -> None:
        self._value: Optional[Result] = None
        self._error: Optional[VaultError] = None
        self._done = False

    def _set(self, v: Union[Result, VaultError]) -> None:
        if isinstance(v, VaultError):
            self._error = v
        else:
            self._value = v
        self._done = True

    @property
    def done(self) -> bool:
        return self._done

    @property
    def error(self) -> Optional[VaultError]:
        """The error the request was answered with, or None."""
        return self._error

    def result(self) -> Result:
        """The result map; raises the request's VaultError."""
        if not self._done:
            raise RuntimeError("the pipeline has not run yet")
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


class Pipeline(_Ops[PipelineResult]):
    """Requests queued on the client's methods, sent together over one
    connection, many in flight, when execute() runs (or the with block
    ends). Each method returns a PipelineResult.

        with client.pipeline() as p:
            answers = [p.detokenize(purpose="transactional", tokens=[t]) for t in toks]
        values = [a.result() for a in answers]

    Replies may come in another order than the requests (reads overtake
    writes, PROTOCOL.md section 1); they are matched by id. A read queued
    behind a write in the same pipeline may not see that write.
    """

    def __init__(self, client: "Client") -> None:
        self._client = client
        self._calls: List[Tuple[str, Dict[str, Any]]] = []
        self._futures: List[PipelineResult] = []

    def _call(self, op: str, args: Dict[str, Any]) -> PipelineResult:
        f = PipelineResult()
        self._calls.append((op, args))
        self._futures.append(f)
        return f

    def __len__(self) -> int:
        return len(self._calls)

    def execute(self, *, raise_on_error: bool = False) -> List[Union[Result, VaultError]]:
        """Run the queued requests; return each result or error in order
        (or raise the first error with raise_on_error). The queue empties."""
        calls, futures = self._calls, self._futures
        self._calls, self._futures = [], []
        if not calls:
            return []
        with self._client._pool.connection() as conn:
            results = conn.run_many(calls)
        for f, r in zip(futures, results):
            f._set(r)
        if raise_on_error:
            for r in results:
                if isinstance(r, VaultError):
                    raise r
        return results

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.execute()


class Client(_Ops[Result]):
    """A client of vaultd, safe to share between threads.

    socket_path: the argument, else $VAULT_SOCKET, else /run/vault/vaultd.sock.
    server_uid: the uid vaultd must run as (else $VAULT_SERVER_UID, else the
    owner of the socket's directory); another uid raises ServerIdentityError
    before anything is sent. timeout: seconds a call waits for the server
    (None: forever); a call that times out raises VaultTimeout. pool_size:
    the most connections open at once.

    Each operation is a method with keyword arguments, returning the
    result map or raising a VaultError subclass.
    """

    def __init__(self, socket_path: Optional[str] = None, *, server_uid: Optional[int] = None,
                 timeout: Optional[float] = 30.0, pool_size: int = 8,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> None:
        self.socket_path = _connect.socket_path(socket_path)
        self.server_uid = server_uid
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self.max_reply_bytes = max_reply_bytes
        self._pool = Pool(pool_size, self.connect)

    def connect(self) -> Connection:
        """A new connection with this client's settings (outside the pool)."""
        return Connection(self.socket_path, server_uid=self.server_uid, timeout=self.timeout,
                          max_request_bytes=self.max_request_bytes,
                          max_reply_bytes=self.max_reply_bytes)

    def _call(self, op: str, args: Dict[str, Any]) -> Result:
        with self._pool.connection() as conn:
            return conn.call(op, args)

    def call(self, op: str, **args: Any) -> Result:
        """Any operation by name, with its wire arguments (for operations
        newer than this client)."""
        return self._call(op, args)

    def pipeline(self) -> Pipeline:
        """A pipeline: queue requests, then run them over one connection."""
        return Pipeline(self)

    def batch(self, op: str, args: Sequence[Dict[str, Any]]
              ) -> List[Union[Result, VaultError]]:
        """The same operation with many argument maps, pipelined on one
        connection: each result map or VaultError, in order."""
        with self._pool.connection() as conn:
            return conn.run_many([(op, dict(a)) for a in args])

    def close(self) -> None:
        """Close every idle connection; later calls fail."""
        self._pool.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
