"""Where the server is and whom to trust (PROTOCOL.md section 1).

The socket path: the argument, else VAULT_SOCKET, else the compiled
default. The uid vaultd must run as: the argument, else VAULT_SERVER_UID,
else the owner of the socket's directory (not the socket file: only the
directory's owner can put a socket in it). It is compared with the
listening process's uid from SO_PEERCRED right after connect(), before a
byte is sent, as the C library does.
"""
from __future__ import annotations

import os
import socket
import struct
from typing import Optional

from .errors import ConfigError, ServerIdentityError, VaultIOError

DEFAULT_SOCKET = "/run/vault/vaultd.sock"
_UCRED = struct.Struct("=iII")  # pid, uid, gid
_UID_MAX = 2**32 - 1


def socket_path(path: Optional[str] = None) -> str:
    """The socket to use: path, else $VAULT_SOCKET, else the default."""
    if path:
        return path
    env = os.environ.get("VAULT_SOCKET")
    return env if env else DEFAULT_SOCKET


def expected_uid(path: str, server_uid: Optional[int] = None) -> int:
    """The uid vaultd must run as, for the socket at path."""
    if server_uid is not None:
        if not 0 <= server_uid < _UID_MAX:
            raise ConfigError("server_uid is not a uid")
        return server_uid
    env = os.environ.get("VAULT_SERVER_UID")
    if env:
        # Decimal digits only, as the C library: "+5", " 5" or "0x5" are refused.
        if not env.isascii() or not env.isdigit() or int(env) >= _UID_MAX:
            raise ConfigError("VAULT_SERVER_UID is not a decimal uid")
        return int(env)
    d = os.path.dirname(path) or "."
    try:
        return os.stat(d).st_uid
    except OSError as e:
        raise VaultIOError(f"cannot stat the socket's directory: {e.strerror}") from None


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process that listens on sock's other end."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)


def check_peer(sock: socket.socket, want: int) -> None:
    """Raise ServerIdentityError unless the server runs as want."""
    got = peer_uid(sock)
    if got != want:
        raise ServerIdentityError(
            f"the server on this socket runs as uid {got}, not the expected uid {want}; "
            "nothing was sent")


def open_socket(path: str, server_uid: Optional[int], timeout: Optional[float]) -> socket.socket:
    """A connected, checked Unix stream socket (blocking, with timeout)."""
    want = expected_uid(path, server_uid)
    if len(os.fsencode(path)) >= 108:
        raise VaultIOError("socket path too long")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        check_peer(sock, want)
    except ServerIdentityError:
        sock.close()
        raise
    except OSError as e:
        sock.close()
        raise VaultIOError(f"cannot connect to {path}: {e.strerror or e}") from None
    return sock
