"""`peerqa serve` starts Streamlit on localhost with XSRF protection, hidden error details and an
upload limit."""

from __future__ import annotations

import pytest

import app.runtime as runtime
from peerqa.settings import Settings

pytestmark = pytest.mark.unit


def test_serve_binds_localhost_with_safe_streamlit_flags(monkeypatch, tmp_path):
    calls: list[list[str]] = []
    monkeypatch.setattr(runtime, "ensure_index", lambda settings: None)
    monkeypatch.setattr(runtime.subprocess, "call", lambda cmd, env: calls.append(cmd) or 0)
    assert runtime.serve(Settings(index_dir=tmp_path / "index")) == 0
    cmd = calls[0]

    def flag(name: str) -> str:
        return cmd[cmd.index(name) + 1]

    assert flag("--server.address") == "127.0.0.1"
    assert flag("--server.enableXsrfProtection") == "true"
    assert flag("--client.showErrorDetails") == "none"
    assert int(flag("--server.maxUploadSize")) <= 50
    assert flag("--browser.gatherUsageStats") == "false"
