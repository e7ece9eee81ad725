"""One method per operation of PROTOCOL.md section 8, written once.

_Ops[R] builds each request and hands it to self._call(op, args), which
decides what R is: the result map itself (Client), an awaitable of it
(AsyncClient) or a future filled when a pipeline runs (Pipeline). Each
method's docstring names its section; keyword arguments that are None are
not sent, so the server's default applies.
"""
from __future__ import annotations

from typing import Any, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

R = TypeVar("R")

Result = Dict[str, Any]
Fields = Mapping[str, str]
Document = Mapping[str, Any]          # {"name": str, "type": str, "data": bytes}
TokenRequest = Mapping[str, str]      # {"field": str, "kind": "opaque"|"card"|"deterministic"}
OptOut = Mapping[str, bool]           # channel ("email", "phone", "mail") -> opted out

PURPOSES = ("transactional", "marketing", "maintenance", "security", "legal")

# Every operation: (takes a purpose, its arguments besides v, id, op,
# purpose). tests/test_ops.py checks it against the server's operation table
# and each operation's argument list (vault/ops/*.c), and each method's
# signature against it.
OPS: Dict[str, Tuple[bool, Tuple[str, ...]]] = {
    "audit_checkpoint": (False, ()),
    "audit_query": (False, ("record", "client", "purpose", "from", "to", "limit")),
    "audit_verify": (False, ("checkpoint_seq", "checkpoint_mac")),
    "backup": (False, ("name",)),
    "breach_report": (True, ("client", "uid", "all", "from", "to", "notify")),
    "create": (True, ("fields", "documents", "tokens", "marketing_opt_out", "child")),
    "delete": (True, ("record", "reason")),
    "deletions_ack": (False, ("ids",)),
    "deletions_pending": (False, ("after", "limit")),
    "detokenize": (True, ("tokens",)),
    "hold_lift": (False, ("hold",)),
    "hold_list": (False, ("record",)),
    "hold_place": (False, ("record", "purpose", "reason", "expires_at")),
    "keys_rekey": (False, ("root", "key", "passphrase", "opslimit", "memlimit", "shares",
                           "threshold", "token", "key_label", "pin")),
    "keys_retire": (False, ("epoch",)),
    "keys_rotate": (False, ("kind",)),
    "keys_rotate_record": (False, ("record",)),
    "keys_status": (False, ()),
    "list": (True, ("after", "limit", "channel")),
    "metrics": (False, ()),
    "ping": (False, ()),
    "policy_reload": (False, ()),
    "read": (True, ("record", "fields", "documents")),
    "request_complete": (False, ("request",)),
    "request_confirm": (False, ("request", "code")),
    "request_extend": (False, ("request", "reason")),
    "request_list": (False, ("state", "overdue")),
    "request_open": (False, ("kind", "channel", "requester", "permission", "channels",
                             "received_at")),
    "request_show": (False, ("request",)),
    "request_verify": (False, ("request", "claims")),
    "signing_key": (False, ()),
    "status": (False, ()),
    "tokenize": (True, ("record", "tokens")),
    "transaction": (True, ("record", "reference", "date", "amount")),
    "unseal": (False, ("passphrase", "share")),
    "update": (True, ("record", "set", "clear", "add_documents", "remove_documents",
                      "marketing_opt_out", "child")),
}

# Python keywords that are wire argument names: the method takes them with
# a trailing underscore (audit_query(from_=..., to=...)).
PY_NAMES = {"from": "from_"}


def _seq(v: Optional[Sequence[Any]]) -> Optional[list[Any]]:
    return None if v is None else list(v)


def _docs(v: Optional[Sequence[Document]]) -> Optional[list[Dict[str, Any]]]:
    return None if v is None else [dict(d) for d in v]


def _map(v: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    return None if v is None else dict(v)


class _Ops(Generic[R]):
    """The operations. Subclasses define _call."""

    def _call(self, op: str, args: Dict[str, Any]) -> R:
        raise NotImplementedError

    # ---- 8.1-8.2 -------------------------------------------------------
    def ping(self) -> R:
        """8.1: a no-op round trip. Result: {}."""
        return self._call("ping", {})

    def status(self) -> R:
        """8.2: server facts (sealed, version, records, tombstones, kek_epoch,
        uptime_seconds, alerts, audit, rotation, storage; records and
        tombstones are absent while the store cannot be reached). No
        personal data."""
        return self._call("status", {})

    # ---- data operations (need a purpose) -----------------------------
    def create(self, *, purpose: str, fields: Fields,
               documents: Optional[Sequence[Document]] = None,
               tokens: Optional[Sequence[TokenRequest]] = None,
               marketing_opt_out: Optional[OptOut] = None,
               child: Optional[bool] = None) -> R:
        """8.3: store a new record. fields maps field names to values (may be
        {} with documents); tokens asks for field tokens of the values given,
        e.g. [{"field": "email", "kind": "deterministic"}].
        Result: {"record": str, "tokens": [{"field", "kind", "token"}, ...]}."""
        return self._call("create", {
            "purpose": purpose, "fields": dict(fields), "documents": _docs(documents),
            "tokens": _seq([dict(t) for t in tokens] if tokens is not None else None),
            "marketing_opt_out": _map(marketing_opt_out), "child": child})

    def read(self, *, purpose: str, record: str, fields: Optional[Sequence[str]] = None,
             documents: Union[bool, Sequence[int], None] = None) -> R:
        """8.4: a record's fields (all, or those named) as the policy allows,
        its opt-outs and document slots; documents=True (or a list of slots)
        also returns documents. Result keys: fields, marketing_opt_out,
        created, updated, document_slots[, documents]."""
        docs: Union[bool, List[int], None] = (
            documents if documents is None or isinstance(documents, bool) else list(documents))
        return self._call("read", {"purpose": purpose, "record": record,
                                   "fields": _seq(fields), "documents": docs})

    def update(self, *, purpose: str, record: str, set: Optional[Fields] = None,
               clear: Optional[Sequence[str]] = None,
               add_documents: Optional[Sequence[Document]] = None,
               remove_documents: Optional[Sequence[int]] = None,
               marketing_opt_out: Optional[OptOut] = None,
               child: Optional[bool] = None) -> R:
        """8.5: set and clear fields, add and remove documents, change
        opt-outs. Result: {"fields_changed": int, "documents_added": [slot]}."""
        return self._call("update", {
            "purpose": purpose, "record": record, "set": _map(set), "clear": _seq(clear),
            "add_documents": _docs(add_documents), "remove_documents": _seq(remove_documents),
            "marketing_opt_out": _map(marketing_opt_out), "child": child})

    def delete(self, *, purpose: str, record: str, reason: str) -> R:
        """8.6: crypto-shred a record. reason: subject_request, retention or
        administrative. Result: {"deleted_at": int}."""
        return self._call("delete", {"purpose": purpose, "record": record, "reason": reason})

    def deletions_pending(self, *, after: Optional[int] = None,
                          limit: Optional[int] = None) -> R:
        """8.22: this client's own pending deletion notices, oldest first.
        Result: {"notices": [{"id", "record", "fields", "deleted_at",
        "reason", "request"}], "more": bool}."""
        return self._call("deletions_pending", {"after": after, "limit": limit})

    def deletions_ack(self, *, ids: Sequence[int]) -> R:
        """8.22: acknowledge notices of this client's own feed, all or none
        (NotFoundError, AlreadyAckedError). Result: {"acknowledged": int}."""
        return self._call("deletions_ack", {"ids": list(ids)})

    def tokenize(self, *, purpose: str, record: str, tokens: Sequence[TokenRequest]) -> R:
        """8.7: issue field tokens for a stored record.
        Result: {"tokens": [{"field", "kind", "token"}, ...]}."""
        return self._call("tokenize", {"purpose": purpose, "record": record,
                                       "tokens": [dict(t) for t in tokens]})

    def detokenize(self, *, purpose: str, tokens: Sequence[str]) -> R:
        """8.8: resolve field tokens. Each token gets its own answer:
        Result: {"results": [{"ok": True, "field", "value"} or
        {"ok": False, "code", "name", "message"[, "rule"]}, ...]}.
        Per-token errors are not raised; see vaultclient.token_error()."""
        return self._call("detokenize", {"purpose": purpose, "tokens": list(tokens)})

    def list(self, *, purpose: str, after: Optional[str] = None, limit: Optional[int] = None,
             channel: Optional[str] = None) -> R:
        """8.9: record tokens a page at a time. Result: {"records": [str],
        "next": str or None}; pass next as after until it is None."""
        return self._call("list", {"purpose": purpose, "after": after, "limit": limit,
                                   "channel": channel})

    def transaction(self, *, record: str, reference: Optional[str] = None,
                    date: Optional[str] = None, amount: Optional[str] = None,
                    purpose: str = "transactional") -> R:
        """8.18: record the person's last transaction (keyed hashes only), for
        identity verification. Result: {"recorded": True}."""
        return self._call("transaction", {"purpose": purpose, "record": record,
                                          "reference": reference, "date": date,
                                          "amount": amount})

    # ---- admin ----------------------------------------------------------
    def unseal(self, *, passphrase: Optional[str] = None, share: Optional[str] = None) -> R:
        """8.10 (admin): open a passphrase-sealed key ring (or give a token's
        PIN), or give one Shamir share (vs1-...). Result: {"sealed": False};
        before the K-th share {"sealed": True, "shares_given": k,
        "shares_needed": K}."""
        return self._call("unseal", {"passphrase": passphrase, "share": share})

    def backup(self, *, name: str) -> R:
        """8.11 (admin): write a compacted copy of the data file into
        backup_dir under name. Result: {"path": str, "bytes": int}."""
        return self._call("backup", {"name": name})

    def keys_status(self) -> R:
        """8.12 (admin): key versions, rotation progress, schedule, retire
        blockers. Never key material."""
        return self._call("keys_status", {})

    def keys_rotate(self, *, kind: Optional[str] = None) -> R:
        """8.13 (admin): make a new key of kind (kek (default), token,
        index) current. Result: {"kind": str, "version": int}."""
        return self._call("keys_rotate", {"kind": kind})

    def keys_rekey(self, *, root: str, key: Optional[str] = None,
                   passphrase: Optional[str] = None, opslimit: Optional[int] = None,
                   memlimit: Optional[int] = None, shares: Optional[int] = None,
                   threshold: Optional[int] = None, token: Optional[str] = None,
                   key_label: Optional[str] = None, pin: Optional[str] = None) -> R:
        """8.21 (admin): seal the key ring under a new root (root: key_file
        with key as 64 hex digits, passphrase, shares with shares and
        threshold, or pkcs11 with token, key_label and pin). Result:
        {"root": str}, with "shares": [str, ...] when new shares were made."""
        return self._call("keys_rekey", {
            "root": root, "key": key, "passphrase": passphrase, "opslimit": opslimit,
            "memlimit": memlimit, "shares": shares, "threshold": threshold,
            "token": token, "key_label": key_label, "pin": pin})

    def keys_retire(self, *, epoch: int) -> R:
        """8.14 (admin): destroy a KEK epoch no record uses. Result: {"epoch",
        "file_bytes_before", "file_bytes_after"}; ConflictError.remaining
        says how many records still use it."""
        return self._call("keys_retire", {"epoch": epoch})

    def keys_rotate_record(self, *, record: str) -> R:
        """8.15 (admin): give one record a new data key.
        Result: {"dek_version": int, "epoch": int}."""
        return self._call("keys_rotate_record", {"record": record})

    def audit_verify(self, *, checkpoint_seq: Optional[int] = None,
                     checkpoint_mac: Optional[str] = None) -> R:
        """8.16 (admin): check the audit trail (optionally that it holds a
        checkpoint's entry). Result: {"ok": bool, "files", "entries", ...}."""
        return self._call("audit_verify", {"checkpoint_seq": checkpoint_seq,
                                           "checkpoint_mac": checkpoint_mac})

    def audit_checkpoint(self) -> R:
        """8.16 (admin): make the trail durable and sign its head.
        Result: {"seq", "mac", "time", "key_version", "signature": bytes}."""
        return self._call("audit_checkpoint", {})

    def audit_query(self, *, record: Optional[str] = None, client: Optional[str] = None,
                    purpose: Optional[str] = None, from_: Optional[int] = None,
                    to: Optional[int] = None, limit: Optional[int] = None) -> R:
        """8.17 (admin): audit entries, oldest first; every filter given must
        match (purpose here is a filter). Result: {"entries": [...]}."""
        return self._call("audit_query", {"record": record, "client": client,
                                          "purpose": purpose, "from": from_, "to": to,
                                          "limit": limit})

    def breach_report(self, *, purpose: str, from_: int, client: Optional[str] = None,
                      uid: Optional[int] = None, all: Optional[bool] = None,
                      to: Optional[int] = None, notify: Optional[bool] = None) -> R:
        """8.23 (admin; purpose security or legal): which records a client,
        a uid's clients or every client received between from_ and to, from
        the verified audit trail. Give exactly one of client, uid, all.
        Result: {"records": [...], "by_field": {...}, "people": n, ...}; with
        notify (purpose security) also the signed "notification" list, which
        holds contact data: keep it as an export is kept."""
        return self._call("breach_report", {"purpose": purpose, "client": client, "uid": uid,
                                            "all": all, "from": from_, "to": to,
                                            "notify": notify})

    def policy_reload(self) -> R:
        """8.19 (admin): read the policy file again.
        Result: {"file": str, "clients": int}."""
        return self._call("policy_reload", {})

    def metrics(self) -> R:
        """8.20 (admin): the service's counters (ops, connections,
        histograms). Counts and durations only."""
        return self._call("metrics", {})

    # ---- 8.18 privacy requests, holds, signing key ------------------------
    def request_open(self, *, kind: str, channel: str, requester: str,
                     permission: Optional[str] = None,
                     channels: Optional[Sequence[str]] = None,
                     received_at: Optional[int] = None) -> R:
        """8.18 (privacy): open a person's request. kind: delete, know,
        opt_out; channel: online, phone, email, mail; requester: self, agent,
        guardian. Result: {"request": int, "state": "open", "due_at": int}."""
        return self._call("request_open", {"kind": kind, "channel": channel,
                                           "requester": requester, "permission": permission,
                                           "channels": _seq(channels),
                                           "received_at": received_at})

    def request_verify(self, *, request: int, claims: Mapping[str, Any]) -> R:
        """8.18 (privacy): verify the requester's identity from claims
        (first_name, last_name, email, phone, postal_address, transaction).
        Result: {"verified": bool, "state", "attempts_left"[, "targets",
        "threshold", "confirmation_code"]}."""
        return self._call("request_verify", {"request": request, "claims": dict(claims)})

    def request_confirm(self, *, request: int, code: str) -> R:
        """8.18 (privacy): the confirmation code of an online deletion.
        Result: {"confirmed", "expired", "state", "attempts_left"}."""
        return self._call("request_confirm", {"request": request, "code": code})

    def request_complete(self, *, request: int) -> R:
        """8.18 (privacy): carry out a verified request (delete, know,
        opt_out). Result: state plus receipt/export and signature, or holds."""
        return self._call("request_complete", {"request": request})

    def request_extend(self, *, request: int, reason: str) -> R:
        """8.18 (privacy): move due_at 45 days later, once."""
        return self._call("request_extend", {"request": request, "reason": reason})

    def request_list(self, *, state: Optional[str] = None,
                     overdue: Optional[bool] = None) -> R:
        """8.18 (privacy): request summaries, oldest first.
        Result: {"requests": [...]}."""
        return self._call("request_list", {"state": state, "overdue": overdue})

    def request_show(self, *, request: int) -> R:
        """8.18 (privacy): one request's summary, history and documents."""
        return self._call("request_show", {"request": request})

    def hold_place(self, *, record: str, purpose: str, reason: str,
                   expires_at: Optional[int] = None) -> R:
        """8.18 (admin): place a hold on a record. purpose (the hold's):
        transaction, security, error_correction, legal, internal.
        Result: {"hold": int}."""
        return self._call("hold_place", {"record": record, "purpose": purpose,
                                         "reason": reason, "expires_at": expires_at})

    def hold_lift(self, *, hold: int) -> R:
        """8.18 (admin): lift a hold. Result: {"lifted": True, "completed": [ids]}."""
        return self._call("hold_lift", {"hold": hold})

    def hold_list(self, *, record: Optional[str] = None) -> R:
        """8.18 (admin): live holds, of one record or all. Result: {"holds": [...]}."""
        return self._call("hold_list", {"record": record})

    def signing_key(self) -> R:
        """8.18: the public keys that sign receipts and checkpoints.
        Result: {"current": int, "keys": [{"version", "public_key": bytes}]}."""
        return self._call("signing_key", {})
