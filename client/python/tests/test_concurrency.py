"""The pool under threads, pipelining, timeouts, the server uid check and
where the client finds the socket."""
from __future__ import annotations

import os
import threading
import time
from typing import List

import pytest

import vaultclient
from vaultclient import connect

from conftest import SilentServer, Vaultd

T = "transactional"


def test_pool_under_threads(vaultd: Vaultd) -> None:
    threads, calls, size = 8, 200, 4
    client = vaultd.client(pool_size=size, timeout=60)
    # Connections this client opens, counted at the pool's factory: the
    # server's "accepted" counter also counts other clients of the shared
    # vaultd (it once counted one more than this client opened).
    opened = [0]
    factory = client._pool._factory

    def counting_factory() -> vaultclient.Connection:
        opened[0] += 1
        return factory()

    client._pool._factory = counting_factory
    client.ping()
    failures: List[str] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            name = f"Thread{n}"
            made = client.create(purpose=T, fields={"first_name": name},
                                 tokens=[{"field": "first_name", "kind": "opaque"}])
            tok = made["tokens"][0]["token"]
            start.wait()
            for i in range(calls):
                if i % 2:
                    got = client.read(purpose=T, record=made["record"])["fields"]["first_name"]
                else:
                    got = client.detokenize(purpose=T, tokens=[tok])["results"][0]["value"]
                if got != name:
                    failures.append(f"thread {n} call {i}: {got!r}")
        except Exception as e:  # reported below, with the thread's number
            failures.append(f"thread {n}: {e!r}")

    ts = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert failures == []
    # No more connections than the pool's size were ever opened.
    assert 1 <= opened[0] <= size
    client.close()
    with pytest.raises(vaultclient.VaultIOError):
        client.ping()


def test_pipeline_1000_requests_in_flight(client: vaultclient.Client) -> None:
    n = 1000
    m0 = client.metrics()["batch"]
    with client.pipeline() as p:
        made = [p.create(purpose=T, fields={"first_name": f"P{i}"},
                         tokens=[{"field": "first_name", "kind": "opaque"}]) for i in range(n)]
    assert all(f.done for f in made)
    records = [f.result()["record"] for f in made]
    assert len(set(records)) == n
    # The writes were in flight together: the group commit took them in
    # far fewer batches than writes.
    m1 = client.metrics()["batch"]
    batches = m1["count"] - m0["count"]
    assert m1["sum"] - m0["sum"] == n and batches < n / 2, (batches, n)
    # Reads and detokenizes mixed, in reverse: each reply matched by id.
    p2 = client.pipeline()
    answers = []
    for i in reversed(range(n)):
        if i % 2:
            answers.append((i, p2.read(purpose=T, record=records[i])))
        else:
            tok = made[i].result()["tokens"][0]["token"]
            answers.append((i, p2.detokenize(purpose=T, tokens=[tok])))
    assert len(p2) == n
    results = p2.execute()
    assert len(results) == n and len(p2) == 0
    for i, f in answers:
        r = f.result()
        got = r["fields"]["first_name"] if i % 2 else r["results"][0]["value"]
        assert got == f"P{i}"


def test_pipeline_errors_stay_with_their_request(client: vaultclient.Client, record: str) -> None:
    p = client.pipeline()
    good = p.read(purpose=T, record=record)
    bad = p.read(purpose=T, record="rec_1_forged")
    denied = p.read(purpose="maintenance", record=record, fields=["phone"])
    out = p.execute()
    assert good.result()["fields"]["first_name"] == "Jane"
    assert isinstance(bad.error, vaultclient.BadTokenError)
    with pytest.raises(vaultclient.DeniedError):
        denied.result()
    assert isinstance(out[1], vaultclient.BadTokenError)


def test_batch(client: vaultclient.Client, record: str) -> None:
    out = client.batch("read", [{"purpose": T, "record": record},
                                {"purpose": T, "record": "nope"}])
    assert isinstance(out[0], dict) and out[0]["fields"]["first_name"] == "Jane"
    assert isinstance(out[1], vaultclient.BadTokenError)


def test_timeouts(silent_server: SilentServer) -> None:
    c = vaultclient.Client(silent_server.path, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(vaultclient.VaultTimeout):
        c.ping()
    assert 0.25 < time.monotonic() - t0 < 5
    p = c.pipeline()
    p.ping()
    with pytest.raises(vaultclient.VaultTimeout):
        p.execute()
    conn = c.connect()
    with pytest.raises(TimeoutError):
        conn.call("ping", {})
    assert conn.closed  # a late reply cannot be mistaken for the next one's
    c.close()


def test_wrong_server_uid_is_refused_before_sending(vaultd: Vaultd,
                                                     silent_server: SilentServer) -> None:
    other = os.getuid() + 1
    with pytest.raises(vaultclient.ServerIdentityError) as e:
        vaultd.client(server_uid=other).ping()
    assert e.value.code == 403
    assert vaultd.client(server_uid=os.getuid()).ping() == {}
    with pytest.raises(vaultclient.ServerIdentityError):
        vaultclient.Client(silent_server.path, server_uid=other).status()
    assert silent_server.drain() == b""  # not one byte reached it


def test_server_uid_from_the_environment(vaultd: Vaultd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_SERVER_UID", str(os.getuid() + 1))
    with pytest.raises(vaultclient.ServerIdentityError):
        vaultd.client().ping()
    monkeypatch.setenv("VAULT_SERVER_UID", str(os.getuid()))
    assert vaultd.client().ping() == {}
    for bad in ("abc", "+1", " 1", "4294967295", "0x10"):
        monkeypatch.setenv("VAULT_SERVER_UID", bad)
        with pytest.raises(vaultclient.ConfigError):
            vaultd.client().ping()
    # The argument wins over the environment.
    assert vaultd.client(server_uid=os.getuid()).ping() == {}


def test_default_uid_is_the_socket_directory_owner(vaultd: Vaultd) -> None:
    d = os.path.dirname(vaultd.socket)
    assert connect.expected_uid(vaultd.socket) == os.stat(d).st_uid


def test_socket_path_from_argument_environment_default(vaultd: Vaultd,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_SOCKET", vaultd.socket)
    assert vaultclient.Client().ping() == {}
    assert connect.socket_path("/elsewhere.sock") == "/elsewhere.sock"
    monkeypatch.delenv("VAULT_SOCKET")
    assert connect.socket_path() == vaultclient.DEFAULT_SOCKET == "/run/vault/vaultd.sock"
    with pytest.raises(vaultclient.VaultIOError):
        vaultclient.Client(os.path.dirname(vaultd.socket) + "/missing.sock",
                           server_uid=os.getuid()).ping()


def test_pipeline_keeps_reading_while_it_sends(vaultd: Vaultd) -> None:
    # 200 detokenize requests of 1,024 tokens: about 11 MiB of requests and
    # 9 MiB of replies. The server stops reading a client that leaves more
    # than max_frame_bytes (4 MiB) of replies unread (PROTOCOL.md 2.4), so
    # sending everything before reading deadlocks (tried: the send times
    # out); the pipeline reads as it sends.
    client = vaultd.client(timeout=10)
    tok = client.create(purpose=T, fields={"email": "someone.with.a.long.address@example.com"},
                        tokens=[{"field": "email", "kind": "opaque"}])["tokens"][0]["token"]
    out = client.batch("detokenize", [{"purpose": T, "tokens": [tok] * 1024}] * 200)
    assert len(out) == 200
    for r in out:
        assert isinstance(r, dict) and len(r["results"]) == 1024
        assert r["results"][1023]["value"] == "someone.with.a.long.address@example.com"
    # Large requests and large replies: 40 creates of 256 KiB documents
    # (10 MiB), then all 40 read back in one pipeline.
    big = b"b" * 262144
    made = client.batch("create", [{"purpose": T, "fields": {}, "documents": [
        {"name": f"b{i}.bin", "type": "application/octet-stream", "data": big}]}
        for i in range(40)])
    recs = [m["record"] for m in made if isinstance(m, dict)]
    assert len(recs) == 40
    back = client.batch("read", [{"purpose": T, "record": r, "documents": True} for r in recs])
    assert all(isinstance(b, dict) and b["documents"][0]["data"] == big for b in back)
    client.close()
