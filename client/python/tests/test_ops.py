"""Every operation of PROTOCOL.md section 8, at least once, against the
real vaultd; and the check that no operation of the server lacks a method
or a test here."""
from __future__ import annotations

import inspect
import re
import time
from pathlib import Path
from typing import Any, Dict, Set

import pytest

import vaultclient
from vaultclient.aio import AsyncClient
from vaultclient.ops import OPS, PY_NAMES

from conftest import SOURCE_ROOT, Vaultd

T = "transactional"


def wait_for(pred: Any, what: str, seconds: float = 20.0) -> Any:
    """Poll pred until it returns something true, or fail at the deadline."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    pytest.fail(f"{what}: not within {seconds} s")


# ---- the operations ---------------------------------------------------------

def test_ping_and_status(client: vaultclient.Client) -> None:
    assert client.ping() == {}
    st = client.status()
    assert st["sealed"] is False
    assert st["protocol_version"] == 1
    assert isinstance(st["alerts"], dict) and "token_burst" in st["alerts"]


def test_create_read_update_documents(client: vaultclient.Client) -> None:
    made = client.create(
        purpose=T,
        fields={"first_name": "Jane", "email": "Jane.Doe@Example.COM",
                "card_number": "4242 4242 4242 4242"},
        documents=[{"name": "order-17.pdf", "type": "application/pdf", "data": b"%PDF-1.7 x"}],
        tokens=[{"field": "email", "kind": "deterministic"},
                {"field": "card_number", "kind": "card"}],
        marketing_opt_out={"phone": True})
    rec = made["record"]
    assert rec.startswith("rec_")
    assert [t["kind"] for t in made["tokens"]] == ["deterministic", "card"]
    got = client.read(purpose=T, record=rec, documents=True)
    assert got["fields"]["first_name"] == "Jane"
    assert got["fields"]["email"] == "Jane.Doe@example.com"  # domain lower-cased
    assert got["marketing_opt_out"] == {"email": False, "phone": True, "mail": False}
    assert got["document_slots"] == [1]
    assert got["documents"][0]["data"] == b"%PDF-1.7 x"
    some = client.read(purpose=T, record=rec, fields=["first_name"], documents=[1])
    assert list(some["fields"]) == ["first_name"]
    up = client.update(purpose=T, record=rec, set={"email": "jane@example.org"},
                       clear=["card_number"], remove_documents=[1],
                       add_documents=[{"name": "id.jpg", "type": "image/jpeg", "data": b"\xff"}],
                       marketing_opt_out={"mail": True})
    assert up == {"fields_changed": 2, "documents_added": [2]}
    got = client.read(purpose=T, record=rec)
    assert "card_number" not in got["fields"]
    assert got["document_slots"] == [2]


def test_tokenize_detokenize(client: vaultclient.Client, record: str) -> None:
    toks = client.tokenize(purpose=T, record=record, tokens=[
        {"field": "phone", "kind": "opaque"}, {"field": "email", "kind": "deterministic"},
        {"field": "card_number", "kind": "card"}])["tokens"]
    assert [t["field"] for t in toks] == ["phone", "email", "card_number"]
    res = client.detokenize(purpose=T, tokens=[t["token"] for t in toks] + ["tok_1_nope"])
    answers = res["results"]
    assert [a["ok"] for a in answers] == [True, True, True, False]
    assert answers[1]["value"] == "jane.doe@example.com"
    err = vaultclient.token_error(answers[3])
    assert isinstance(err, vaultclient.BadTokenError) and err.code == 300
    assert vaultclient.token_error(answers[0]) is None


def test_list_pages(client: vaultclient.Client, record: str) -> None:
    seen = []
    after = None
    while True:
        page = client.list(purpose=T, after=after, limit=2)
        seen += page["records"]
        after = page["next"]
        if after is None:
            break
    assert len(seen) >= 1 and len(seen) == len(set(seen))
    # The page holds record tokens under the current token key: it reads.
    assert client.read(purpose=T, record=seen[-1])["created"] > 0


def test_delete(client: vaultclient.Client, record: str) -> None:
    assert client.delete(purpose="legal", record=record, reason="subject_request")["deleted_at"] > 0
    with pytest.raises(vaultclient.DeletedError) as e:
        client.read(purpose=T, record=record)
    assert e.value.field == "record"


def test_deletion_feed(client: vaultclient.Client) -> None:
    rec = client.create(purpose=T, fields={"first_name": "Feed"})["record"]
    client.read(purpose=T, record=rec)
    client.delete(purpose=T, record=rec, reason="retention")
    mine = [n for n in client.deletions_pending(limit=1000)["notices"] if n["record"] == rec]
    assert len(mine) == 1 and mine[0]["reason"] == "retention"
    assert "first_name" in mine[0]["fields"]
    assert client.deletions_ack(ids=[mine[0]["id"]]) == {"acknowledged": 1}
    with pytest.raises(vaultclient.AlreadyAckedError) as e:
        client.deletions_ack(ids=[mine[0]["id"]])
    assert e.value.code == 309


def test_transaction(client: vaultclient.Client, record: str) -> None:
    assert client.transaction(record=record, reference="ORD-17", date="2026-11-29",
                              amount="12.50") == {"recorded": True}


def test_unseal_on_an_unsealed_vault(client: vaultclient.Client) -> None:
    with pytest.raises(vaultclient.ConflictError) as e:
        client.unseal(passphrase="correct horse battery staple")
    assert e.value.code == 304
    with pytest.raises(vaultclient.ConflictError):
        client.unseal(share="vs1-1-2-00-00000000")


def test_keys_rekey_refuses_bad_arguments(client: vaultclient.Client) -> None:
    # A real rekey would change the session server's root: e2e-shares does those.
    with pytest.raises(vaultclient.InvalidValueError) as e:
        client.keys_rekey(root="nonsense")
    assert e.value.field == "root"
    with pytest.raises(vaultclient.InvalidValueError) as e:
        client.keys_rekey(root="key_file", key="00")
    assert e.value.field == "key"


def test_backup(client: vaultclient.Client, vaultd: Vaultd, record: str) -> None:
    b = client.backup(name="py-backup-1")
    assert b["bytes"] > 0 and Path(b["path"]).name == "py-backup-1"
    with pytest.raises(vaultclient.ConflictError) as e:
        client.backup(name="py-backup-1")
    assert e.value.field == "name"
    with pytest.raises(vaultclient.InvalidValueError):
        client.backup(name=".hidden")


def test_audit_operations(client: vaultclient.Client, record: str) -> None:
    client.read(purpose="security", record=record)
    cp = client.audit_checkpoint()
    assert len(cp["mac"]) == 64 and len(cp["signature"]) == 64
    v = client.audit_verify(checkpoint_seq=cp["seq"], checkpoint_mac=cp["mac"])
    assert v["ok"] is True and v["entries"] >= 1
    assert client.audit_verify()["ok"] is True
    q = client.audit_query(record=record, purpose="security", from_=1, limit=10)
    assert [e["op"] for e in q["entries"]] == ["read"]
    assert q["entries"][0]["client"] == "tests"
    # The breach report maps the trail back to records: the read is there.
    b = client.breach_report(purpose="security", client="tests", from_=1)
    assert record in [r.get("record") for r in b["records"]]
    with pytest.raises(vaultclient.DeniedError):
        client.breach_report(purpose="transactional", all=True, from_=1)


def test_policy_reload_metrics_signing_key(client: vaultclient.Client, vaultd: Vaultd) -> None:
    r = client.policy_reload()
    assert r["file"] == str(vaultd.policy) and r["clients"] == 1
    m = client.metrics()
    assert m["ops"]["ping"]["requests"] >= 1
    k = client.signing_key()
    assert k["current"] >= 1 and len(k["keys"][0]["public_key"]) == 32


def test_holds(client: vaultclient.Client, record: str) -> None:
    h = client.hold_place(record=record, purpose="legal", reason="litigation 17",
                          expires_at=int(time.time()) + 3600)["hold"]
    holds = client.hold_list(record=record)["holds"]
    assert [x["hold"] for x in holds] == [h]
    with pytest.raises(vaultclient.HeldError):
        client.read(purpose=T, record=record)
    assert client.read(purpose="legal", record=record)["fields"]["first_name"] == "Jane"
    with pytest.raises(vaultclient.HeldError):
        client.delete(purpose="legal", record=record, reason="retention")
    lifted = client.hold_lift(hold=h)
    assert lifted["lifted"] is True
    assert client.hold_list()["holds"] == []


def test_privacy_requests(client: vaultclient.Client) -> None:
    rec = client.create(purpose=T, fields={
        "first_name": "Ada", "last_name": "Quill", "email": "ada.quill@example.com",
        "phone": "(858) 375-5876"})["record"]
    opened = client.request_open(kind="know", channel="email", requester="self")
    rid = opened["request"]
    assert opened["state"] == "open"
    with pytest.raises(vaultclient.NotVerifiedError):
        client.request_complete(request=rid)
    bad = client.request_verify(request=rid, claims={
        "first_name": "Ada", "last_name": "Quill", "email": "nobody@example.com",
        "phone": "(858) 375-5800"})
    assert bad["verified"] is False and "targets" not in bad
    ok = client.request_verify(request=rid, claims={
        "first_name": "Ada", "last_name": "Quill", "email": "ada.quill@example.com",
        "phone": "(858) 375-5876"})
    assert ok["verified"] is True and ok["targets"] == [rec]
    with pytest.raises(vaultclient.RequestStateError):
        client.request_confirm(request=rid, code="ABCDEF")
    assert client.request_extend(request=rid, reason="more time to collect records")
    with pytest.raises(vaultclient.RequestStateError):
        client.request_extend(request=rid, reason="again")
    done = client.request_complete(request=rid)
    assert done["state"] == "completed" and len(done["signature"]) == 64
    assert "ada.quill@example.com" in done["export"]
    listed = client.request_list(state="completed")["requests"]
    assert rid in [r["request"] for r in listed]
    shown = client.request_show(request=rid)
    assert shown["extended"] is True
    assert [h["event"] for h in shown["history"]][0] == "opened"
    with pytest.raises(vaultclient.NoPermissionError):
        client.request_open(kind="delete", channel="mail", requester="agent")


def test_keys(vaultd: Vaultd) -> None:
    # Its own server: the rotation and retire change every key of it.
    v = Vaultd()
    try:
        with v.client() as c:
            rec = c.create(purpose=T, fields={"first_name": "Kim"})["record"]
            st = c.keys_status()
            assert st["kek"]["current"] == 1
            assert c.keys_rotate_record(record=rec)["dek_version"] == 2
            assert c.keys_rotate(kind="token") == {"kind": "token", "version": 2}
            assert c.keys_rotate() == {"kind": "kek", "version": 2}
            wait_for(lambda: not c.keys_status()["rotation"]["active"], "the rewrap")
            r = c.keys_retire(epoch=1)
            assert r["epoch"] == 1 and r["file_bytes_after"] > 0
            with pytest.raises(vaultclient.ConflictError):
                c.keys_retire(epoch=2)
            with pytest.raises(vaultclient.NotFoundError) as e:
                c.keys_retire(epoch=1)
            assert e.value.field == "epoch"
            assert c.read(purpose=T, record=rec)["fields"] == {"first_name": "Kim"}
    finally:
        v.remove()


# ---- nothing left out -------------------------------------------------------

def c_operation_args() -> Dict[str, Set[str]]:
    """Each operation's argument list, from vault/ops/*.c."""
    out: Dict[str, Set[str]] = {}
    for f in sorted((SOURCE_ROOT / "vault" / "ops").glob("*.c")):
        text = f.read_text()
        m = re.search(r"static const char \*const args\[\] = \{(.*?)\};", text, re.S)
        name = re.search(r'\.name = "([a-z_]+)"', text)
        if m and name:
            out[name.group(1)] = set(re.findall(r'"([a-z_]+)"', m.group(1)))
    return out


def test_every_server_operation_has_a_method_and_a_test(client: vaultclient.Client) -> None:
    # The running server's own table (metrics lists every operation)...
    server_ops = set(client.metrics()["ops"])
    assert len(server_ops) >= 30
    # ...and the source's, with each operation's arguments.
    c_args = c_operation_args()
    assert set(c_args) == server_ops, "vault/ops/*.c and the server disagree"
    assert set(OPS) == server_ops, (
        f"vaultclient.ops.OPS lacks {sorted(server_ops - set(OPS))}, "
        f"has extra {sorted(set(OPS) - server_ops)}")
    tests_text = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    for op in sorted(server_ops):
        needs_purpose, args = OPS[op]
        assert set(args) == c_args[op], f"{op}: arguments differ from vault/ops/{op}.c"
        for cls in (vaultclient.Client, AsyncClient, vaultclient.Pipeline):
            method = getattr(cls, op, None)
            assert callable(method), f"{cls.__name__} has no method {op}"
        params = inspect.signature(getattr(vaultclient.Client, op)).parameters
        want = {PY_NAMES.get(a, a) for a in args} | ({"purpose"} if needs_purpose else set())
        assert set(params) - {"self"} == want, f"{op}: method takes {sorted(params)}"
        assert all(p.kind == p.KEYWORD_ONLY for n, p in params.items() if n != "self")
        assert getattr(vaultclient.Client, op).__doc__, f"{op} has no docstring"
        assert re.search(rf"\.{op}\(", tests_text), f"no test calls {op}"


def test_large_documents_cross_many_reads(client: vaultclient.Client) -> None:
    # Replies of about 3 MiB: many recv()s per frame, sync and pipelined.
    blob = bytes(range(256)) * 4096  # 1 MiB, max_document_bytes
    rec = client.create(purpose=T, fields={}, documents=[
        {"name": f"scan-{i}.bin", "type": "application/octet-stream", "data": blob}
        for i in range(3)])["record"]
    got = client.read(purpose=T, record=rec, documents=True)
    assert [d["data"] == blob for d in got["documents"]] == [True] * 3
    out = client.batch("read", [{"purpose": T, "record": rec, "documents": [i + 1]}
                                for i in range(3)])
    assert all(isinstance(r, dict) and r["documents"][0]["data"] == blob for r in out)
