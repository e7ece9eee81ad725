"""A real vaultd for the tests: started by a fixture on a temporary socket
and data directory, with --dev keys and a test policy, as tests/e2e does.

Its path comes in VAULTD (meson passes build/vault/vaultd). Nothing here
skips: a missing tool or server fails the run and says what to do.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package from the tree

INSTALL_HINT = "run scripts/install-deps.sh (as root) to install it"

try:
    import msgpack  # noqa: F401
except ImportError:  # pragma: no cover - the environment's fault
    pytest.exit(f"python3-msgpack is missing: {INSTALL_HINT}", returncode=3)

import vaultclient  # noqa: E402

SOURCE_ROOT = HERE.parents[2]
PURPOSES = ("transactional", "marketing", "maintenance", "security", "legal")


def vaultd_path() -> str:
    path = os.environ.get("VAULTD")
    if not path:
        pytest.fail("VAULTD is not set: run through `meson test -C build python-pytest`, "
                    "or set VAULTD to build/vault/vaultd")
    if not os.access(path, os.X_OK):
        pytest.fail(f"VAULTD={path} is not an executable: build first (ninja -C build)")
    return path


class Vaultd:
    """One vaultd --dev on its own directory."""

    def __init__(self, extra_ini: str = "", policy: Optional[str] = None) -> None:
        base = os.environ.get("TMPDIR", "/tmp")
        self.dir = Path(tempfile.mkdtemp(prefix="vault-py-", dir=base))
        run = self.dir / "run"
        run.mkdir(mode=0o700)
        self.socket = str(run / "vaultd.sock")
        self.config = self.dir / "vaultd.conf"
        self.log = self.dir / "vaultd.log"
        self.policy = self.dir / "policy.ini"
        self.policy.write_text(policy if policy is not None else default_policy())
        self.policy.chmod(0o644)
        self.config.write_text(
            f"[server]\nsocket_path = {self.socket}\nworkers = 2\n"
            f"[storage]\ndata_dir = {self.dir}/data\nmap_size_bytes = 256M\n"
            f"backup_dir = {self.dir}/backups\n"
            f"[keys]\nkeyring_path = {self.dir}/keys/keyring\n"
            f"root_key_path = {self.dir}/keys/root.key\n"
            f"[policy]\nfile = {self.policy}\n"
            f"[audit]\nreserve_bytes = 1M\n" + extra_ini)
        self.config.chmod(0o600)
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([vaultd_path(), "--dev", "-c", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"vaultd exited during start ({self.proc.returncode}): "
                            f"{self.log.read_text()}")
            try:
                with vaultclient.Connection(self.socket, timeout=2) as c:
                    c.call("ping", {})
                return
            except vaultclient.DeniedError:
                return  # up, and refusing this uid (a test's policy)
            except vaultclient.VaultError:
                time.sleep(0.02)
        pytest.fail(f"vaultd did not answer within 15 s: {self.log.read_text()}")

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def client(self, **kw: object) -> vaultclient.Client:
        return vaultclient.Client(self.socket, **kw)  # type: ignore[arg-type]

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def default_policy(uid: Optional[int] = None) -> str:
    """The test uid may do everything, as an admin, with plain access for
    every purpose but maintenance, where it gets first_name (plain) and
    email (masked) only: the denials the tests provoke."""
    uid = os.getuid() if uid is None else uid
    p = (f"[client tests]\nuids = {uid}\nadmin = true\ndelete = true\nlist = true\n"
         "privacy = true\ntransactions = true\n")
    for purpose in PURPOSES:
        if purpose == "maintenance":
            p += f"[access tests {purpose}]\nfirst_name = plain\nemail = masked\n"
        else:
            p += f"[access tests {purpose}]\n* = plain\ndocuments = plain\n"
    return p


@pytest.fixture(scope="session")
def vaultd() -> Iterator[Vaultd]:
    v = Vaultd()
    yield v
    rc = v.stop()
    log = v.log.read_text()
    v.remove()
    assert rc == 0, f"vaultd exited {rc}: {log}"
    for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
        assert bad not in log, log


@pytest.fixture
def client(vaultd: Vaultd) -> Iterator[vaultclient.Client]:
    with vaultd.client(timeout=30) as c:
        yield c


@pytest.fixture
def record(client: vaultclient.Client) -> str:
    """A fresh record with a name, an email, a phone and a card."""
    r = client.create(purpose="transactional", fields={
        "first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.com",
        "phone": "(858) 375-5875", "card_number": "4242 4242 4242 4242"})
    rec = r["record"]
    assert isinstance(rec, str)
    return rec


class SilentServer:
    """A Unix socket in a 0700 directory that accepts, records what it
    receives, and never answers: for timeouts and the uid check."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vault-py-fake-",
                                         dir=os.environ.get("TMPDIR", "/tmp")))
        self.path = str(self.dir / "fake.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.received: List[bytes] = []
        self.conns: List[socket.socket] = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(c)
            c.settimeout(0.05)
        for c in self.conns:
            c.close()

    def drain(self, deadline: float = 1.0) -> bytes:
        """Everything the clients sent, read until each closed or the deadline."""
        out = b""
        end = time.monotonic() + deadline
        for c in list(self.conns):
            while time.monotonic() < end:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not d:
                    break
                out += d
        return out

    def close(self) -> None:
        self._stop = True
        self._t.join()
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    s = SilentServer()
    yield s
    s.close()
