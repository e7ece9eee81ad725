"""vaultclient: a Python client for vaultd, the encrypted personal-data vault.

    from vaultclient import Client, DeniedError
    with Client() as vault:                      # $VAULT_SOCKET or /run/vault/vaultd.sock
        rec = vault.create(purpose="transactional",
                           fields={"first_name": "Jane", "email": "jane@example.com"},
                           tokens=[{"field": "email", "kind": "opaque"}])
        print(vault.read(purpose="transactional", record=rec["record"])["fields"])

See PROTOCOL.md for the operations; vaultclient.aio for asyncio.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from . import errors as _errors
from .client import Client, Connection, Pipeline, PipelineResult, Pool
from .connect import DEFAULT_SOCKET
from .errors import *  # noqa: F401,F403  (every error class: errors.__all__)
from .errors import VaultError, error_from_wire
from .ops import OPS, PURPOSES, Result

__version__ = "0.1.0"


def token_error(answer: Mapping[str, Any]) -> Optional[VaultError]:
    """The error of one detokenize answer ({"ok": False, "code", ...}), or
    None for an answer that resolved."""
    if answer.get("ok") is True:
        return None
    return error_from_wire(answer)


__all__ = [
    "Client", "Connection", "Pipeline", "PipelineResult", "Pool", "DEFAULT_SOCKET", "OPS",
    "PURPOSES", "Result", "token_error",
]
__all__ += _errors.__all__
