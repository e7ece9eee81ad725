"""The vault's errors as exceptions: one base class, one subclass per code.

The table below is written once, from PROTOCOL.md section 11 (and
common/error.c); tests/test_errors.py checks it against both, so a code
added to the server without a row here fails the suite.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple, Type

# (code, VAULT_E_* name, class name). Stable: codes are never renumbered.
ERROR_TABLE: Tuple[Tuple[int, str, str], ...] = (
    (100, "VAULT_E_PROTO_FRAME", "ProtoFrameError"),
    (101, "VAULT_E_PROTO_FRAME_TOO_LARGE", "ProtoFrameTooLargeError"),
    (102, "VAULT_E_PROTO_VERSION", "ProtoVersionError"),
    (103, "VAULT_E_PROTO_UNKNOWN_OP", "ProtoUnknownOpError"),
    (104, "VAULT_E_PROTO_TYPE", "ProtoTypeError"),
    (105, "VAULT_E_PROTO_MISSING", "ProtoMissingError"),
    (106, "VAULT_E_PROTO_UNKNOWN_ARG", "ProtoUnknownArgError"),
    (200, "VAULT_E_PURPOSE", "PurposeError"),
    (201, "VAULT_E_UNKNOWN_FIELD", "UnknownFieldError"),
    (202, "VAULT_E_INVALID_VALUE", "InvalidValueError"),
    (203, "VAULT_E_TOO_LARGE", "TooLargeError"),
    (204, "VAULT_E_LIMIT", "LimitError"),
    (205, "VAULT_E_TOKEN_KIND", "TokenKindError"),
    (206, "VAULT_E_REASON", "ReasonError"),
    (207, "VAULT_E_EMPTY", "EmptyError"),
    (208, "VAULT_E_NO_PERMISSION", "NoPermissionError"),
    (300, "VAULT_E_BAD_TOKEN", "BadTokenError"),
    (301, "VAULT_E_NOT_FOUND", "NotFoundError"),
    (302, "VAULT_E_DELETED", "DeletedError"),
    (303, "VAULT_E_STALE_TOKEN", "StaleTokenError"),
    (304, "VAULT_E_CONFLICT", "ConflictError"),
    (305, "VAULT_E_REQUEST_STATE", "RequestStateError"),
    (306, "VAULT_E_NOT_VERIFIED", "NotVerifiedError"),
    (307, "VAULT_E_CONFIRMATION", "ConfirmationError"),
    (308, "VAULT_E_HELD", "HeldError"),
    (400, "VAULT_E_DENIED", "DeniedError"),
    (401, "VAULT_E_SEALED", "SealedError"),
    (402, "VAULT_E_RATE_LIMITED", "RateLimitedError"),
    (403, "VAULT_E_SERVER_IDENTITY", "ServerIdentityError"),
    (500, "VAULT_E_INTERNAL", "InternalError"),
    (501, "VAULT_E_NOMEM", "NomemError"),
    (502, "VAULT_E_STORAGE", "StorageError"),
    (503, "VAULT_E_NO_SPACE", "NoSpaceError"),
    (504, "VAULT_E_CRYPTO", "CryptoError"),
    (505, "VAULT_E_BUSY", "BusyError"),
    (506, "VAULT_E_SHUTTING_DOWN", "ShuttingDownError"),
    (507, "VAULT_E_IO", "VaultIOError"),
    (508, "VAULT_E_CONFIG", "ConfigError"),
    (509, "VAULT_E_KEYRING", "KeyringError"),
    (510, "VAULT_E_AUDIT", "AuditError"),
)


class VaultError(Exception):
    """An error the vault answered, or the client found on its own.

    code and name are stable (PROTOCOL.md section 11); message is English
    for people and may change; field names the argument or field at fault;
    rule is the policy rule behind a VAULT_E_DENIED; remaining is set on a
    keys_retire refused while records still use the epoch.
    """

    code: int = 0
    name: str = "VAULT_E_UNKNOWN"

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


# Filled from ERROR_TABLE below; code -> class.
ERRORS_BY_CODE: Dict[int, Type[VaultError]] = {}


def _make_classes() -> Dict[str, Type[VaultError]]:
    made: Dict[str, Type[VaultError]] = {}
    for code, name, cls_name in ERROR_TABLE:
        bases: Tuple[type, ...] = (VaultError,)
        # Let callers catch the client's own failures the Python way too.
        if name == "VAULT_E_IO":
            bases = (VaultError, OSError)
        cls = type(cls_name, bases, {"code": code, "name": name,
                                     "__doc__": f"{name} ({code})."})
        made[cls_name] = cls
        ERRORS_BY_CODE[code] = cls
    return made


_CLASSES = _make_classes()

# Named here so that type checkers and readers see every class.
ProtoFrameError = _CLASSES["ProtoFrameError"]
ProtoFrameTooLargeError = _CLASSES["ProtoFrameTooLargeError"]
ProtoVersionError = _CLASSES["ProtoVersionError"]
ProtoUnknownOpError = _CLASSES["ProtoUnknownOpError"]
ProtoTypeError = _CLASSES["ProtoTypeError"]
ProtoMissingError = _CLASSES["ProtoMissingError"]
ProtoUnknownArgError = _CLASSES["ProtoUnknownArgError"]
PurposeError = _CLASSES["PurposeError"]
UnknownFieldError = _CLASSES["UnknownFieldError"]
InvalidValueError = _CLASSES["InvalidValueError"]
TooLargeError = _CLASSES["TooLargeError"]
LimitError = _CLASSES["LimitError"]
TokenKindError = _CLASSES["TokenKindError"]
ReasonError = _CLASSES["ReasonError"]
EmptyError = _CLASSES["EmptyError"]
NoPermissionError = _CLASSES["NoPermissionError"]
BadTokenError = _CLASSES["BadTokenError"]
NotFoundError = _CLASSES["NotFoundError"]
DeletedError = _CLASSES["DeletedError"]
StaleTokenError = _CLASSES["StaleTokenError"]
ConflictError = _CLASSES["ConflictError"]
RequestStateError = _CLASSES["RequestStateError"]
NotVerifiedError = _CLASSES["NotVerifiedError"]
ConfirmationError = _CLASSES["ConfirmationError"]
HeldError = _CLASSES["HeldError"]
DeniedError = _CLASSES["DeniedError"]
SealedError = _CLASSES["SealedError"]
RateLimitedError = _CLASSES["RateLimitedError"]
ServerIdentityError = _CLASSES["ServerIdentityError"]
InternalError = _CLASSES["InternalError"]
NomemError = _CLASSES["NomemError"]
StorageError = _CLASSES["StorageError"]
NoSpaceError = _CLASSES["NoSpaceError"]
CryptoError = _CLASSES["CryptoError"]
BusyError = _CLASSES["BusyError"]
ShuttingDownError = _CLASSES["ShuttingDownError"]
VaultIOError = _CLASSES["VaultIOError"]
ConfigError = _CLASSES["ConfigError"]
KeyringError = _CLASSES["KeyringError"]
AuditError = _CLASSES["AuditError"]


__all__ = ["VaultError", "VaultTimeout", "ERROR_TABLE", "ERRORS_BY_CODE", "error_class",
           "error_from_wire"] + [cls_name for _, _, cls_name in ERROR_TABLE]


class VaultTimeout(VaultIOError, TimeoutError):  # type: ignore[misc, valid-type]
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
