"""The vault's errors as exceptions: one base class, one subclass per code.

The one-line class definitions below are the table, written once from
PROTOCOL.md section 11 (and common/error.c); ERRORS_BY_CODE and ERROR_TABLE
are generated from them. tests/test_errors.py checks them against
common/error.c, vault.h and PROTOCOL.md, so a code added to the server
without a class here fails the suite. Static classes (rather than classes
made at run time) let type checkers see each one.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

class VaultError(Exception):
    """An error the vault answered, or the client found on its own.

    code and name are stable (PROTOCOL.md section 11); message is English
    for people and may change; field names the argument or field at fault;
    rule is the policy rule behind a VAULT_E_DENIED; remaining is set on a
    keys_retire refused while records still use the epoch.
    """

    code: int = 0
    name: str = "VAULT_E_UNKNOWN"

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.__doc__ is None:
            cls.__doc__ = f"{cls.name} ({cls.code}): PROTOCOL.md section 11."

    def __init__(self, message: str = "", *, code: Optional[int] = None,
                 name: Optional[str] = None, field: Optional[str] = None,
                 rule: Optional[str] = None, remaining: Optional[int] = None,
                 request_id: int = 0) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        self.message = message
        self.field = field
        self.rule = rule
        self.remaining = remaining
        self.request_id = request_id

    def __str__(self) -> str:
        s = f"{self.name}: {self.message}"
        if self.field is not None:
            s += f" (field {self.field})"
        if self.rule is not None:
            s += f" (rule {self.rule})"
        return s

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code}, name={self.name!r}, "
                f"message={self.message!r}, field={self.field!r}, rule={self.rule!r})")


# 100-199
class ProtoFrameError(VaultError): code, name = 100, "VAULT_E_PROTO_FRAME"  # noqa: E701
class ProtoFrameTooLargeError(VaultError): code, name = 101, "VAULT_E_PROTO_FRAME_TOO_LARGE"  # noqa: E701
class ProtoVersionError(VaultError): code, name = 102, "VAULT_E_PROTO_VERSION"  # noqa: E701
class ProtoUnknownOpError(VaultError): code, name = 103, "VAULT_E_PROTO_UNKNOWN_OP"  # noqa: E701
class ProtoTypeError(VaultError): code, name = 104, "VAULT_E_PROTO_TYPE"  # noqa: E701
class ProtoMissingError(VaultError): code, name = 105, "VAULT_E_PROTO_MISSING"  # noqa: E701
class ProtoUnknownArgError(VaultError): code, name = 106, "VAULT_E_PROTO_UNKNOWN_ARG"  # noqa: E701

# 200-299
class PurposeError(VaultError): code, name = 200, "VAULT_E_PURPOSE"  # noqa: E701
class UnknownFieldError(VaultError): code, name = 201, "VAULT_E_UNKNOWN_FIELD"  # noqa: E701
class InvalidValueError(VaultError): code, name = 202, "VAULT_E_INVALID_VALUE"  # noqa: E701
class TooLargeError(VaultError): code, name = 203, "VAULT_E_TOO_LARGE"  # noqa: E701
class LimitError(VaultError): code, name = 204, "VAULT_E_LIMIT"  # noqa: E701
class TokenKindError(VaultError): code, name = 205, "VAULT_E_TOKEN_KIND"  # noqa: E701
class ReasonError(VaultError): code, name = 206, "VAULT_E_REASON"  # noqa: E701
class EmptyError(VaultError): code, name = 207, "VAULT_E_EMPTY"  # noqa: E701
class NoPermissionError(VaultError): code, name = 208, "VAULT_E_NO_PERMISSION"  # noqa: E701

# 300-399
class BadTokenError(VaultError): code, name = 300, "VAULT_E_BAD_TOKEN"  # noqa: E701
class NotFoundError(VaultError): code, name = 301, "VAULT_E_NOT_FOUND"  # noqa: E701
class DeletedError(VaultError): code, name = 302, "VAULT_E_DELETED"  # noqa: E701
class StaleTokenError(VaultError): code, name = 303, "VAULT_E_STALE_TOKEN"  # noqa: E701
class ConflictError(VaultError): code, name = 304, "VAULT_E_CONFLICT"  # noqa: E701
class RequestStateError(VaultError): code, name = 305, "VAULT_E_REQUEST_STATE"  # noqa: E701
class NotVerifiedError(VaultError): code, name = 306, "VAULT_E_NOT_VERIFIED"  # noqa: E701
class ConfirmationError(VaultError): code, name = 307, "VAULT_E_CONFIRMATION"  # noqa: E701
class HeldError(VaultError): code, name = 308, "VAULT_E_HELD"  # noqa: E701
class AlreadyAckedError(VaultError): code, name = 309, "VAULT_E_ALREADY_ACKED"  # noqa: E701

# 400-499
class DeniedError(VaultError): code, name = 400, "VAULT_E_DENIED"  # noqa: E701
class SealedError(VaultError): code, name = 401, "VAULT_E_SEALED"  # noqa: E701
class RateLimitedError(VaultError): code, name = 402, "VAULT_E_RATE_LIMITED"  # noqa: E701
class ServerIdentityError(VaultError): code, name = 403, "VAULT_E_SERVER_IDENTITY"  # noqa: E701

# 500-599
class InternalError(VaultError): code, name = 500, "VAULT_E_INTERNAL"  # noqa: E701
class NomemError(VaultError): code, name = 501, "VAULT_E_NOMEM"  # noqa: E701
class StorageError(VaultError): code, name = 502, "VAULT_E_STORAGE"  # noqa: E701
class NoSpaceError(VaultError): code, name = 503, "VAULT_E_NO_SPACE"  # noqa: E701
class CryptoError(VaultError): code, name = 504, "VAULT_E_CRYPTO"  # noqa: E701
class BusyError(VaultError): code, name = 505, "VAULT_E_BUSY"  # noqa: E701
class ShuttingDownError(VaultError): code, name = 506, "VAULT_E_SHUTTING_DOWN"  # noqa: E701
class VaultIOError(VaultError, OSError): code, name = 507, "VAULT_E_IO"  # noqa: E701
class ConfigError(VaultError): code, name = 508, "VAULT_E_CONFIG"  # noqa: E701
class KeyringError(VaultError): code, name = 509, "VAULT_E_KEYRING"  # noqa: E701
class AuditError(VaultError): code, name = 510, "VAULT_E_AUDIT"  # noqa: E701
class UnavailableError(VaultError): code, name = 511, "VAULT_E_UNAVAILABLE"  # noqa: E701
class UncertainError(VaultError): code, name = 512, "VAULT_E_UNCERTAIN"  # noqa: E701
class BackupError(VaultError): code, name = 513, "VAULT_E_BACKUP"  # noqa: E701


def _codes() -> Dict[int, Type[VaultError]]:
    out: Dict[int, Type[VaultError]] = {}
    for cls in VaultError.__subclasses__():
        assert cls.code not in out, f"two classes for code {cls.code}"
        out[cls.code] = cls
    return dict(sorted(out.items()))


# code -> class, and (code, VAULT_E_* name, class name), generated from the classes.
ERRORS_BY_CODE: Dict[int, Type[VaultError]] = _codes()
ERROR_TABLE: Tuple[Tuple[int, str, str], ...] = tuple(
    (code, cls.name, cls.__name__) for code, cls in ERRORS_BY_CODE.items())

class VaultTimeout(VaultIOError, TimeoutError):
    """No reply within the timeout. The connection is closed: a late reply
    could otherwise be taken for the answer to a later request. A write may
    still have been applied."""


def error_class(code: int) -> Type[VaultError]:
    """The class for code; codes this client does not know get VaultError."""
    return ERRORS_BY_CODE.get(code, VaultError)


def error_from_wire(err: Mapping[str, Any], request_id: int = 0) -> VaultError:
    """Build the exception for a reply's "error" map (PROTOCOL.md section 4)."""
    code = err.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return ProtoFrameError("reply error without a code", request_id=request_id)
    name = err.get("name")
    message = err.get("message")
    field = err.get("field")
    rule = err.get("rule")
    remaining = err.get("remaining")
    return error_class(code)(
        message if isinstance(message, str) else "",
        code=code, name=name if isinstance(name, str) else None,
        field=field if isinstance(field, str) else None,
        rule=rule if isinstance(rule, str) else None,
        remaining=remaining if isinstance(remaining, int) else None,
        request_id=request_id)


__all__: List[str] = [
    "VaultError", "VaultTimeout", "ERROR_TABLE", "ERRORS_BY_CODE", "error_class", "error_from_wire",
    "ProtoFrameError", "ProtoFrameTooLargeError", "ProtoVersionError", "ProtoUnknownOpError",
    "ProtoTypeError", "ProtoMissingError", "ProtoUnknownArgError", "PurposeError",
    "UnknownFieldError", "InvalidValueError", "TooLargeError", "LimitError", "TokenKindError",
    "ReasonError", "EmptyError", "NoPermissionError", "BadTokenError", "NotFoundError",
    "DeletedError", "StaleTokenError", "ConflictError", "RequestStateError", "NotVerifiedError",
    "ConfirmationError", "HeldError", "AlreadyAckedError", "DeniedError", "SealedError", "RateLimitedError",
    "ServerIdentityError", "InternalError", "NomemError", "StorageError", "NoSpaceError",
    "CryptoError", "BusyError", "ShuttingDownError", "VaultIOError", "ConfigError", "KeyringError",
    "AuditError", "UnavailableError", "UncertainError", "BackupError",
]
