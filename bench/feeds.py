"""What deletion feeds cost (PROTOCOL.md 8.22): run as root from the tree,
after `ninja -C build`:

    python3 bench/feeds.py [N]      (VAULTD=path: another vaultd, e.g. main's)

Starts a vaultd of its own (a temporary directory, a policy of an admin and
three services told apart by gid), creates 2N records, has all three
services read N of them, then deletes the N unread records (0 recipients)
and the N read ones (3 recipients), one delete per group commit. The writer's
time per delete outside the store's commit (metrics: commit sum minus
flush sum, per batch) is the feed's cost per deletion; the fsync is
reported apart. Reads: a service's first read of a record (a write: the
recipient is stored before the answer) against its later reads (one get
and one AEAD open more than before feeds), client-side latency.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import vaultclient  # noqa: E402

T = "transactional"
GIDS = (52001, 52002, 52003)
POLICY = """[client admin]
gids = 0
admin = true
delete = true
[access admin transactional]
* = plain
"""
for g in GIDS:
    POLICY += f"[client svc{g}]\ngids = {g}\n[access svc{g} transactional]\n* = plain\n"


def as_gid(gid: int, fn: Callable[[vaultclient.Client], List[float]], sock: str) -> List[float]:
    """fn's latencies, run in a child of group gid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        c = vaultclient.Client(sock, timeout=60, pool_size=1)
        out = fn(c)
        os.write(w, (" ".join(f"{x:.1f}" for x in out)).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return [float(x) for x in data.split()]


def apply_us(c: vaultclient.Client, fn: Callable[[], None]) -> Dict[str, float]:
    m0 = c.metrics()
    fn()
    m1 = c.metrics()
    d = {k: m1[k]["sum"] - m0[k]["sum"] for k in ("commit", "flush")}
    n = m1["commit"]["count"] - m0["commit"]["count"]
    return {"batches": n, "apply_us": (d["commit"] - d["flush"]) / n, "flush_us": d["flush"] / n}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    d = tempfile.mkdtemp(prefix="vault-feeds-")
    os.mkdir(f"{d}/run", 0o700)
    with open(f"{d}/policy.ini", "w") as f:
        f.write(POLICY)
    os.chmod(f"{d}/policy.ini", 0o644)
    with open(f"{d}/vaultd.conf", "w") as f:
        f.write(f"[server]\nsocket_path = {d}/run/vaultd.sock\n[storage]\ndata_dir = {d}/data\n"
                f"[keys]\nkeyring_path = {d}/keys/keyring\nroot_key_path = {d}/keys/root.key\n"
                f"[policy]\nfile = {d}/policy.ini\n")
    os.chmod(f"{d}/vaultd.conf", 0o600)
    sock = f"{d}/run/vaultd.sock"
    log = open(f"{d}/vaultd.log", "w")
    vaultd = os.environ.get("VAULTD", f"{ROOT}/build/vault/vaultd")
    p = subprocess.Popen([vaultd, "--dev", "-c", f"{d}/vaultd.conf"],
                         stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        c = vaultclient.Client(sock, timeout=60, pool_size=1)
        fields = {"first_name": "Bench", "last_name": "Person", "email": "b@example.com",
                  "postal_address": "1 Main Street"}
        unread = [c.create(purpose=T, fields=fields)["record"] for _ in range(n)]
        read = [c.create(purpose=T, fields=fields)["record"] for _ in range(n)]

        def reads(cl: vaultclient.Client) -> List[float]:
            lat = []
            for rec in read:
                t = time.perf_counter()
                cl.read(purpose=T, record=rec)
                lat.append((time.perf_counter() - t) * 1e6)
            return lat
        first = []
        for g in GIDS:
            first += as_gid(g, reads, sock)
        later = as_gid(GIDS[0], reads, sock)
        first.sort()
        later.sort()
        print(f"read, first by a client (a write): median {first[len(first) // 2]:.0f} us")
        print(f"read, later by the same client:    median {later[len(later) // 2]:.0f} us")
        for name, recs in (("0 recipients", unread), ("3 recipients", read)):
            r = apply_us(c, lambda: [c.delete(purpose=T, record=x, reason="retention")
                                     for x in recs])
            print(f"delete, {name}: {r['batches']} batches, writer time outside the flush "
                  f"{r['apply_us']:.0f} us per delete, flush {r['flush_us']:.0f} us")
    finally:
        p.terminate()
        p.wait()
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
