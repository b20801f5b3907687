"""`peerqa serve` starts Streamlit on localhost with XSRF protection, hidden error details and an
upload limit; it passes stop signals to its child and waits for a build that is running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import peerqa.app.runtime as runtime
from peerqa.index.store import load_index, read_active
from peerqa.settings import Settings
from tests.conftest import REPO
from tests.fakes import FakeEmbedder
from tests.test_unit_ingest import MINI_DOC

pytestmark = pytest.mark.unit


def test_serve_binds_localhost_with_safe_streamlit_flags(monkeypatch, tmp_path):
    calls: list[list[str]] = []
    monkeypatch.setattr(runtime, "ensure_index", lambda settings: None)
    monkeypatch.setattr(runtime, "run_child", lambda cmd, env: calls.append(cmd) or 0)
    assert runtime.serve(Settings(index_dir=tmp_path / "index")) == 0
    cmd = calls[0]

    def flag(name: str) -> str:
        return cmd[cmd.index(name) + 1]

    assert flag("--server.address") == "127.0.0.1"
    assert flag("--server.enableXsrfProtection") == "true"
    # "none" is the value that hides message, type and trace; Streamlit reads "false" as "stacktrace".
    assert flag("--client.showErrorDetails") == "none"
    assert flag("--client.showErrorLinks") == "false"
    assert int(flag("--server.maxUploadSize")) <= 50
    assert flag("--browser.gatherUsageStats") == "false"


CHILD = """
import os, signal, sys, time
out = sys.argv[1]
def stop(signum, frame):
    open(out, "a").write(f"got {signum}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
open(out, "a").write(f"pid {os.getpid()}\\n")
time.sleep(120)
"""
PARENT = "import sys; from peerqa.app.runtime import run_child; sys.exit(run_child(sys.argv[1:], dict(__import__('os').environ)))"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_reaches_the_server_child_and_the_parent_exits_with_it(tmp_path, signum):
    out = tmp_path / "child.log"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, sys.executable, "-c", CHILD, str(out)], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and "pid" in out.read_text()):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        child = int(out.read_text().split()[1])
        parent.send_signal(signum)  # to the parent only, as a service manager or `kill PID` does
        assert parent.wait(timeout=30) == 0
        assert f"got {int(signum)}" in out.read_text()
        assert not _alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_serve_started_during_a_build_waits_for_it_and_serves_what_it_built(tmp_path, monkeypatch, capsys):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "mini.txt").write_text(MINI_DOC, encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", sources_dir=sources)
    monkeypatch.setattr(runtime, "get_embedder", lambda settings: FakeEmbedder())
    builds: list[str] = []
    real_ingest = runtime.run_ingest
    monkeypatch.setattr(runtime, "run_ingest", lambda s, *a, **kw: builds.append("serve") or real_ingest(s, *a, **kw))
    monkeypatch.setattr(runtime, "open_index", lambda s, check_settings=True: load_index(s.index_dir))
    done: list[BaseException | None] = []

    with runtime.build_lock(settings.index_dir):  # "a first `peerqa ingest` is building"
        waiter = threading.Thread(target=lambda: done.append(_ensure(settings)))
        waiter.start()
        deadline = time.monotonic() + 20
        while "waiting for it to finish" not in capsys.readouterr().err:
            assert time.monotonic() < deadline and waiter.is_alive(), done
            time.sleep(0.05)
        assert waiter.is_alive() and read_active(settings.index_dir) is None
        # The other build publishes its index, then releases the lock.
        runtime.build_index(settings, FakeEmbedder())
        built = read_active(settings.index_dir)
    waiter.join(30)
    assert done == [None]
    assert read_active(settings.index_dir) == built  # served what the other build made
    assert builds == ["serve"]  # one attempt, refused while busy; no second build


def _ensure(settings: Settings) -> BaseException | None:
    try:
        runtime.ensure_index(settings)
    except BaseException as exc:  # noqa: BLE001 - returned for the assertion
        return exc
    return None
