"""What a breach report costs per audit entry (PROTOCOL.md 8.23): run as
root from the tree, after `ninja -C build`:

    python3 bench/breach.py [ENTRIES] [RECORDS]   (defaults 100000, 1000)

Starts a vaultd of its own (a temporary directory; a policy of an admin and
one service told apart by gid), creates RECORDS records, has the service
read them round-robin until the trail holds ENTRIES entries, then times
`vaultctl breach report` over the whole trail: for the service (every entry
selected), for a client that touched nothing (the verify pass alone), and
the service's --notify list (contact fields read and signed). Prints
seconds and the time per million entries, extrapolated linearly (the report
verifies every entry of the trail once and maps pseudonyms with one keyed
hash per record id and key version).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import vaultclient  # noqa: E402

T = "transactional"
GID = 52011
POLICY = f"""[client admin]
gids = 0
admin = true
[access admin transactional]
* = plain
[client svc]
gids = {GID}
[access svc transactional]
* = plain
[client idle]
gids = {GID + 1}
[access idle transactional]
* = plain
"""


def main() -> None:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    d = tempfile.mkdtemp(prefix="vault-breach-")
    os.mkdir(f"{d}/run", 0o700)
    with open(f"{d}/policy.ini", "w") as f:
        f.write(POLICY)
    os.chmod(f"{d}/policy.ini", 0o644)
    with open(f"{d}/vaultd.conf", "w") as f:
        f.write(f"[server]\nsocket_path = {d}/run/vaultd.sock\nmax_frame_bytes = 67108864\n"
                f"[storage]\ndata_dir = {d}/data\n"
                f"[keys]\nkeyring_path = {d}/keys/keyring\nroot_key_path = {d}/keys/root.key\n"
                f"[policy]\nfile = {d}/policy.ini\n")
    os.chmod(f"{d}/vaultd.conf", 0o600)
    sock = f"{d}/run/vaultd.sock"
    log = open(f"{d}/vaultd.log", "w")
    vaultd = os.environ.get("VAULTD", f"{ROOT}/build/vault/vaultd")
    vaultctl = os.environ.get("VAULTCTL", f"{ROOT}/build/client/vaultctl")
    p = subprocess.Popen([vaultd, "--dev", "-c", f"{d}/vaultd.conf"], stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        c = vaultclient.Client(sock, timeout=60, pool_size=1)
        fields = {"first_name": "Bench", "last_name": "Person", "email": "b@example.com",
                  "postal_address": "1 Main Street"}
        recs = [c.create(purpose=T, fields=fields)["record"] for _ in range(records)]
        pid = os.fork()
        if pid == 0:
            os.setgroups([])
            os.setresgid(GID, GID, GID)
            s = vaultclient.Client(sock, timeout=60, pool_size=1)
            for i in range(entries - records):
                s.read(purpose=T, record=recs[i % records])
            os._exit(0)
        os.waitpid(pid, 0)
        now = str(int(time.time()) + 60)
        for name, extra in (("svc (every entry selected)", ["--client", "svc"]),
                            ("idle (none selected)", ["--client", "idle"]),
                            ("svc --notify", ["--client", "svc", "--notify", "--out",
                                              f"{d}/notify.json"])):
            t = time.perf_counter()
            r = subprocess.run([vaultctl, "-s", sock, "-t", "600000", "breach", "report",
                                *extra, "--from", "0", "--to", now],
                               capture_output=True, text=True)
            dt = time.perf_counter() - t
            if r.returncode != 0:
                sys.exit(f"breach report failed: {r.stderr}")
            print(f"{name}: {entries} entries, {records} records: {dt:.2f} s, "
                  f"{dt * 1e6 / entries:.1f} s per million entries")
    finally:
        p.terminate()
        p.wait()
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
