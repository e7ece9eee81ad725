"""vaultclient.aio: the same operations under asyncio, many calls in flight
on one connection, errors, timeouts and the uid check."""
from __future__ import annotations

import asyncio
import os
import time

import pytest

import vaultclient
from vaultclient.aio import AsyncClient

from conftest import SilentServer, Vaultd, default_policy

T = "transactional"


def test_async_operations(vaultd: Vaultd) -> None:
    async def main() -> None:
        async with AsyncClient(vaultd.socket) as c:
            assert await c.ping() == {}
            assert (await c.status())["sealed"] is False
            made = await c.create(purpose=T, fields={"first_name": "Asya", "email": "a@example.com",
                                                          "phone": "(858) 375-5875"},
                                  tokens=[{"field": "email", "kind": "opaque"}])
            rec = made["record"]
            got = await c.read(purpose=T, record=rec)
            assert got["fields"]["first_name"] == "Asya"
            res = await c.detokenize(purpose=T, tokens=[made["tokens"][0]["token"]])
            assert res["results"][0]["value"] == "a@example.com"
            with pytest.raises(vaultclient.DeniedError) as e:
                await c.read(purpose="maintenance", record=rec, fields=["phone"])
            assert e.value.rule == "tests/maintenance"
            with pytest.raises(vaultclient.BadTokenError):
                await c.read(purpose=T, record="rec_1_forged")
            assert (await c.call("ping")) == {}
            assert (await c.delete(purpose=T, record=rec, reason="administrative"))["deleted_at"]
    asyncio.run(main())


def test_async_1000_in_flight(vaultd: Vaultd) -> None:
    async def main() -> None:
        async with AsyncClient(vaultd.socket, timeout=60) as c:
            made = await asyncio.gather(*(
                c.create(purpose=T, fields={"first_name": f"A{i}"}) for i in range(1000)))
            recs = [m["record"] for m in made]
            reads = await asyncio.gather(*(c.read(purpose=T, record=r) for r in reversed(recs)))
            assert [r["fields"]["first_name"] for r in reads] == [
                f"A{i}" for i in reversed(range(1000))]
            out = await c.batch("read", [{"purpose": T, "record": recs[0]},
                                         {"purpose": T, "record": "nope"}])
            assert isinstance(out[0], dict) and isinstance(out[1], vaultclient.BadTokenError)
    asyncio.run(main())


def test_async_pool_of_connections(vaultd: Vaultd) -> None:
    async def main() -> None:
        async with AsyncClient(vaultd.socket, pool_size=3) as c:
            got = await asyncio.gather(*(c.ping() for _ in range(30)))
            assert got == [{}] * 30
    asyncio.run(main())


def test_async_timeout(silent_server: SilentServer) -> None:
    async def main() -> None:
        c = AsyncClient(silent_server.path, timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(vaultclient.VaultTimeout):
            await c.ping()
        assert 0.25 < time.monotonic() - t0 < 5
        await c.close()
    asyncio.run(main())


def test_async_wrong_server_uid(vaultd: Vaultd, silent_server: SilentServer) -> None:
    async def main() -> None:
        with pytest.raises(vaultclient.ServerIdentityError):
            await AsyncClient(vaultd.socket, server_uid=os.getuid() + 1).ping()
        with pytest.raises(vaultclient.ServerIdentityError):
            await AsyncClient(silent_server.path, server_uid=os.getuid() + 1).ping()
    asyncio.run(main())
    assert silent_server.drain() == b""


def test_async_refused_caller() -> None:
    v = Vaultd(policy=default_policy(uid=os.getuid() + 4242))
    try:
        async def main() -> None:
            c = AsyncClient(v.socket)
            with pytest.raises(vaultclient.DeniedError) as e:
                await c.ping()
            assert "no client of the policy matches" in e.value.message
            await c.close()
        asyncio.run(main())
    finally:
        v.remove()


def test_async_reads_while_it_sends(vaultd: Vaultd) -> None:
    # As the synchronous pipeline's test: more replies than the server holds
    # for a client that does not read, while requests are still being sent.
    async def main() -> None:
        async with AsyncClient(vaultd.socket, timeout=10) as c:
            tok = (await c.create(purpose=T, fields={"email": "long.address.for.async@example.com"},
                                  tokens=[{"field": "email", "kind": "opaque"}]))["tokens"][0]["token"]
            out = await c.batch("detokenize", [{"purpose": T, "tokens": [tok] * 1024}] * 200)
            assert all(isinstance(r, dict) and len(r["results"]) == 1024 for r in out)
    asyncio.run(main())
