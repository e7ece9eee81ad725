"""The package installs with Debian's pip offline (no index, no build
isolation: setuptools from the system) and the installed copy imports."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]


def test_pip_install_offline(tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode != 0:
        pytest.fail("pip is missing for this Python: run scripts/install-deps.sh "
                    "(python3-pip, python3-setuptools)")
    # Build from a copy: an in-tree build would leave build/ and *.egg-info
    # in the source directory.
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", ".mypy_cache", ".pytest_cache", "build", "*.egg-info"))
    target = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1", http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                        "--no-deps", "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "vaultclient" / "py.typed").is_file()
    meta = list(target.glob("vaultclient-*.dist-info/METADATA"))
    assert meta and "Requires-Dist: msgpack" in meta[0].read_text()
    # The installed copy, not the tree's, from a clean directory.
    code = ("import vaultclient, vaultclient.aio, sys; "
            "assert vaultclient.__file__.startswith(sys.argv[1]), vaultclient.__file__; "
            "print(vaultclient.__version__, len(vaultclient.OPS))")
    r = subprocess.run([sys.executable, "-I", "-c",
                        f"import sys; sys.path.insert(0, {str(target)!r}); " + code, str(target)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.1.0", "36"]


def test_pip_install_into_a_venv_resolves_msgpack_offline(tmp_path: Path) -> None:
    """The way a Debian 12 service installs it: a venv that sees the system's
    packages (python3-msgpack), Debian's pip, no index. pip resolves the
    msgpack dependency from the system; nothing is downloaded."""
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", ".mypy_cache", ".pytest_cache", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    r = subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                        str(venv)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    py = str(venv / "bin" / "python")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1")
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", str(src)],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([py, "-c", "import vaultclient, msgpack; print(vaultclient.__file__)"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(str(venv))
