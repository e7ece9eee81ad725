"""The README's examples run as written."""
from __future__ import annotations

import re

import pytest

from conftest import SOURCE_ROOT, Vaultd


def test_readme_from_python_example(vaultd: Vaultd, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    text = (SOURCE_ROOT / "README.md").read_text()
    section = text[text.index("## From Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    monkeypatch.setenv("VAULT_SOCKET", vaultd.socket)
    exec(compile(code.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "{'first_name': 'Jane', 'email': 'jane@example.com'}"
    assert out[1] == "['jane@example.com']"
