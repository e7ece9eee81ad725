"""Errors: the class table against the server's codes, errors the server
answers and their classes, policy denials with their rule, and the codec's
refusals of bad frames."""
from __future__ import annotations

import os
import re
import struct

import pytest

import vaultclient
from vaultclient import errors
from vaultclient.protocol import FrameReader, decode_body, encode_request

from conftest import SOURCE_ROOT, Vaultd, default_policy

T = "transactional"


def test_error_table_matches_error_c_and_protocol_md() -> None:
    names_c = re.findall(r'\{ (VAULT_E_[A-Z_]+), "(VAULT_E_[A-Z_]+)"',
                         (SOURCE_ROOT / "common" / "error.c").read_text())
    assert len(names_c) > 30
    codes_h = dict(re.findall(r"\b(VAULT_E_[A-Z_]+)\s*=\s*(\d+)",
                              (SOURCE_ROOT / "client" / "include" / "vault" / "vault.h").read_text()))
    doc = (SOURCE_ROOT / "PROTOCOL.md").read_text()
    section = doc[doc.index("\n## 11. Errors"):doc.index("\n## 12.")]
    rows = {name: int(code) for code, name in re.findall(r"\n\| (\d+) \| `(VAULT_E_[A-Z_]+)` \|", section)}
    table = {name: code for code, name, _ in errors.ERROR_TABLE}
    assert set(table) == {n for n, _ in names_c}, "ERROR_TABLE and common/error.c differ"
    assert table == rows, "ERROR_TABLE and PROTOCOL.md section 11 differ"
    for name, code in table.items():
        if name in codes_h:
            assert int(codes_h[name]) == code, name
        cls = errors.ERRORS_BY_CODE[code]
        assert issubclass(cls, vaultclient.VaultError)
        assert cls.code == code and cls.name == name
        assert getattr(vaultclient, cls.__name__) is cls
    assert len({c.__name__ for c in errors.ERRORS_BY_CODE.values()}) == len(table)


def test_error_from_wire() -> None:
    e = errors.error_from_wire({"code": 400, "name": "VAULT_E_DENIED", "message": "no",
                                "field": "phone", "rule": "tests/maintenance"}, 7)
    assert isinstance(e, vaultclient.DeniedError)
    assert (e.code, e.name, e.field, e.rule, e.request_id) == (400, "VAULT_E_DENIED", "phone",
                                                               "tests/maintenance", 7)
    assert "tests/maintenance" in str(e)
    # A code this client does not know: the base class, with its code.
    u = errors.error_from_wire({"code": 299, "name": "VAULT_E_NEW", "message": "m"})
    assert type(u) is vaultclient.VaultError and u.code == 299 and u.name == "VAULT_E_NEW"
    assert isinstance(vaultclient.VaultTimeout("t"), TimeoutError)
    assert isinstance(vaultclient.VaultTimeout("t"), vaultclient.VaultIOError)


def test_protocol_errors_from_the_server(client: vaultclient.Client) -> None:
    with pytest.raises(vaultclient.ProtoUnknownOpError) as e:
        client.call("no_such_op")
    assert e.value.field == "op" and e.value.code == 103
    with pytest.raises(vaultclient.ProtoUnknownArgError):
        client.call("ping", bogus=1)
    with pytest.raises(vaultclient.PurposeError) as e2:
        client.call("list")
    assert e2.value.field == "purpose"
    with pytest.raises(vaultclient.PurposeError):
        client.list(purpose="curiosity")
    with pytest.raises(vaultclient.ProtoTypeError):
        client.call("list", purpose=T, limit="ten")


def test_value_errors(client: vaultclient.Client, record: str) -> None:
    with pytest.raises(vaultclient.InvalidValueError) as e:
        client.create(purpose=T, fields={"card_number": "4242 4242 4242 4241"})
    assert e.value.field == "card_number" and "Luhn" in e.value.message
    with pytest.raises(vaultclient.UnknownFieldError) as e2:
        client.create(purpose=T, fields={"card_numbr": "1"})
    assert e2.value.field == "fields"
    with pytest.raises(vaultclient.EmptyError):
        client.create(purpose=T, fields={})
    with pytest.raises(vaultclient.BadTokenError) as e3:
        client.read(purpose=T, record="rec_1_forged")
    assert e3.value.field == "record"
    with pytest.raises(vaultclient.ReasonError):
        client.delete(purpose=T, record=record, reason="because")
    with pytest.raises(vaultclient.TokenKindError):
        client.tokenize(purpose=T, record=record, tokens=[{"field": "email", "kind": "card"}])
    with pytest.raises(vaultclient.LimitError):
        client.list(purpose=T, limit=1001)


def test_policy_denials_carry_the_rule(client: vaultclient.Client, record: str) -> None:
    # maintenance grants first_name and a masked email, nothing else.
    got = client.read(purpose="maintenance", record=record)
    assert set(got["fields"]) == {"first_name", "email"}
    assert got["fields"]["email"] != "jane.doe@example.com"
    with pytest.raises(vaultclient.DeniedError) as e:
        client.read(purpose="maintenance", record=record, fields=["phone"])
    assert (e.value.code, e.value.field, e.value.rule) == (400, "phone", "tests/maintenance")
    # Marketing consent: an opted-out channel is refused with rule "consent".
    client.update(purpose=T, record=record, marketing_opt_out={"email": True})
    with pytest.raises(vaultclient.DeniedError) as e2:
        client.read(purpose="marketing", record=record, fields=["email"])
    assert e2.value.rule == "consent" and e2.value.field == "email"
    # Per token: no exception, the answer names the rule.
    tok = client.tokenize(purpose=T, record=record,
                          tokens=[{"field": "phone", "kind": "opaque"}])["tokens"][0]["token"]
    ans = client.detokenize(purpose="maintenance", tokens=[tok])["results"][0]
    err = vaultclient.token_error(ans)
    assert isinstance(err, vaultclient.DeniedError) and err.rule == "tests/maintenance"


def test_a_caller_the_policy_does_not_know_is_refused() -> None:
    v = Vaultd(policy=default_policy(uid=os.getuid() + 4242))
    try:
        c = vaultclient.Client(v.socket, timeout=10)
        for _ in range(2):  # the first call, and every later one
            with pytest.raises(vaultclient.DeniedError) as e:
                c.ping()
            assert "no client of the policy matches" in e.value.message
            assert e.value.request_id == 0
        c.close()
    finally:
        v.remove()


# ---- the codec -------------------------------------------------------------

def test_oversized_reply_length_refused_before_the_body() -> None:
    r = FrameReader(max_bytes=1 << 16)
    with pytest.raises(vaultclient.ProtoFrameTooLargeError):
        r.feed(struct.pack(">I", (1 << 16) + 1))  # no body byte needed
    with pytest.raises(vaultclient.ProtoFrameError):
        FrameReader().feed(b"\x00\x00\x00\x00")


def test_bodies_declaring_more_than_they_hold_are_refused() -> None:
    # array32 / map32 / str32 / bin32 headers claiming 2^32-1 items: refused,
    # not allocated.
    for body in (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff",
                 b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff"):
        with pytest.raises(vaultclient.ProtoFrameError):
            decode_body(body)
    with pytest.raises(vaultclient.ProtoFrameError):
        decode_body(b"\x81\xa2id\x01\xc0")  # trailing bytes
    with pytest.raises(vaultclient.ProtoFrameError):
        decode_body(b"\x92\x01\x02")  # not a map
    with pytest.raises(vaultclient.ProtoFrameError):
        decode_body(b"\x82\xa2id\x01\xa1x\xd4\x01\x00")  # an ext type
    with pytest.raises(vaultclient.ProtoFrameError):
        decode_body(b"\x81\xa2ok\xc3")  # no id


def test_frames_split_anywhere() -> None:
    frames = b"".join(struct.pack(">I", len(b)) + b for b in (
        b"\x83\xa2id\x01\xa2ok\xc3\xa6result\x80", b"\x83\xa2id\x02\xa2ok\xc3\xa6result\x80"))
    r = FrameReader()
    got = []
    for i in range(len(frames)):
        got += r.feed(frames[i:i + 1])
    assert [g["id"] for g in got] == [1, 2] and not r.partial


def test_request_above_the_frame_limit_is_not_sent(client: vaultclient.Client) -> None:
    with pytest.raises(vaultclient.TooLargeError):
        encode_request("create", 1, {"fields": {"notes": "x" * 100}}, max_bytes=64)
    small = vaultclient.Client(client.socket_path, max_request_bytes=1024)
    with pytest.raises(vaultclient.TooLargeError):
        small.create(purpose=T, fields={}, documents=[{"name": "a", "type": "text/plain",
                                                     "data": b"x" * 4096}])
    assert small.ping() == {}  # the connection was not spoiled
    small.close()
