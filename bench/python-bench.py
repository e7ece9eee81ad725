#!/usr/bin/env python3
"""The Python client's half of `make bench`: its detokenize and create rates
against a running vaultd, as TSV rows in vault-compare's format, so that
bench/compare.sh can put them beside the C client's rows of the same run.

    python-bench.py -s SOCKET -o ROWS.tsv [-d SECONDS] [-n SAMPLE] [-D DEPTH]

Rows (one client thread, one connection, the vaultclient package from the
tree): detokenize of one field and durable create through Client (each call
waits for its reply, as the C library's); the same pipelined, DEPTH requests
in flight (Client.pipeline()); detokenize through vaultclient.aio with DEPTH
calls in flight. Columns: op, clients, requests/s, fields/s, p50, p99,
p99.9 (microseconds; for pipelined rows the time of the request's whole
pipeline), errors, and two CPU columns vault-compare fills and this leaves 0.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client", "python"))

import vaultclient  # noqa: E402
from vaultclient.aio import AsyncClient  # noqa: E402

T = "transactional"
RECORD = {"first_name": "Benchmark", "last_name": "Person", "email": "bench.person@example.com",
          "phone": "+18583755875", "postal_address": "1 Main Street\nSan Diego, CA 92101"}


def pct(v: List[float], p: float) -> float:
    if not v:
        return 0.0
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def row(out: Any, op: str, clients: str, n: int, elapsed: float, lat: List[float],
        errors: int) -> None:
    lat.sort()
    rps = n / elapsed if elapsed > 0 else 0.0
    line = (f"{op}\t{clients}\t{rps:.0f}\t{rps:.0f}\t{pct(lat, 0.5):.1f}\t{pct(lat, 0.99):.1f}\t"
            f"{pct(lat, 0.999):.1f}\t{errors}\t0\t0")
    out.write(line + "\n")
    out.flush()
    print(f"  {op:<32} {clients:<8} {rps:9.0f} req/s  p50 {pct(lat, 0.5):7.1f}  "
          f"p99 {pct(lat, 0.99):7.1f}  p99.9 {pct(lat, 0.999):7.1f} us  errors {errors}",
          file=sys.stderr)


def timed(seconds: float, step: Callable[[], Tuple[int, int]]) -> Tuple[int, float, List[float], int]:
    """Run step until seconds pass: (requests, elapsed, latencies in us, errors)."""
    lat: List[float] = []
    n = errors = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        s = time.perf_counter()
        if s >= end:
            break
        k, e = step()
        us = (time.perf_counter() - s) * 1e6
        lat.extend([us] * k)
        n += k
        errors += e
    return n, time.perf_counter() - t0, lat, errors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", "--socket", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("-d", "--seconds", type=float, default=5.0)
    ap.add_argument("-n", "--sample", type=int, default=2000)
    ap.add_argument("-D", "--depth", type=int, default=32)
    a = ap.parse_args()
    rnd = random.Random(7)
    out = open(a.out, "w")
    client = vaultclient.Client(a.socket, timeout=60, pool_size=1)

    # Tokens to resolve: SAMPLE records of our own, made pipelined.
    made = client.batch("create", [{"purpose": T, "fields": RECORD,
                                    "tokens": [{"field": "email", "kind": "opaque"}]}
                                   for _ in range(a.sample)])
    toks = [m["tokens"][0]["token"] for m in made if isinstance(m, dict)]
    if len(toks) != a.sample:
        print("python-bench: the sample creates failed", file=sys.stderr)
        return 1

    def detok1() -> Tuple[int, int]:
        r = client.detokenize(purpose=T, tokens=[rnd.choice(toks)])
        return 1, 0 if r["results"][0]["ok"] else 1

    def create1() -> Tuple[int, int]:
        client.create(purpose=T, fields=RECORD)
        return 1, 0

    def detok_pipe() -> Tuple[int, int]:
        res = client.batch("detokenize", [{"purpose": T, "tokens": [rnd.choice(toks)]}
                                          for _ in range(a.depth)])
        return len(res), sum(1 for r in res if not isinstance(r, dict))

    def create_pipe() -> Tuple[int, int]:
        res = client.batch("create", [{"purpose": T, "fields": RECORD} for _ in range(a.depth)])
        return len(res), sum(1 for r in res if not isinstance(r, dict))

    d = f"1x{a.depth}"
    for name, clients, step in (("python detokenize 1 field", "1", detok1),
                                ("python create (durable)", "1", create1),
                                ("python detokenize 1, pipelined", d, detok_pipe),
                                ("python create, pipelined", d, create_pipe)):
        n, el, lat, err = timed(a.seconds, step)
        row(out, name, clients, n, el, lat, err)

    async def aio_row() -> None:
        async with AsyncClient(a.socket, timeout=60) as ac:
            lat: List[float] = []
            n = errors = 0
            end = time.perf_counter() + a.seconds
            t0 = time.perf_counter()

            async def worker() -> None:
                nonlocal n, errors
                while time.perf_counter() < end:
                    s = time.perf_counter()
                    r: Dict[str, Any] = await ac.detokenize(purpose=T, tokens=[rnd.choice(toks)])
                    lat.append((time.perf_counter() - s) * 1e6)
                    n += 1
                    errors += 0 if r["results"][0]["ok"] else 1
            await asyncio.gather(*(worker() for _ in range(a.depth)))
            row(out, "python asyncio detokenize 1", d, n, time.perf_counter() - t0, lat, errors)
    asyncio.run(aio_row())
    client.close()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
