"""Two `peerqa serve` processes on one PostgreSQL index: both answer, and a rebuild started from a
third process is picked up by both without a restart (headless chromium, a real database).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_e2e_app import (  # noqa: F401 - pytest fixtures
    CHAT_INPUT,
    FIRST_PAGE_MS,
    _ask,
    _free_port,
    _stop,
    _wait_healthy,
    context,
)
from tests.test_integration_pg import init, write_doc

pytestmark = pytest.mark.e2e


def _serve(root: Path, name: str, url: str, sources: Path) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    log = root / f"{name}.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PEERQA_SOURCES_DIR=str(sources),
               PEERQA_FEEDBACK_PATH=str(root / f"{name}-feedback.sqlite"))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "peerqa.app.cli", "serve", "--port", str(port), "--store", url,
             "--index-dir", str(root / f"{name}-work")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return proc, f"http://127.0.0.1:{port}/", log


def test_two_servers_on_one_database_pick_up_a_rebuild_without_restart(tmp_path, pg_url, context):  # noqa: F811
    init(pg_url)
    sources = tmp_path / "sources"
    write_doc(sources, "first-study", ["housing", "training"], repeat=2)
    build = [sys.executable, "-m", "peerqa.app.cli", "ingest", "--store", pg_url, "--index-dir", str(tmp_path / "builder")]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PEERQA_SOURCES_DIR=str(sources))
    assert subprocess.run(build, cwd=REPO, env=env, capture_output=True, timeout=300).returncode == 0
    servers = [_serve(tmp_path, name, pg_url, sources) for name in ("a", "b")]
    try:
        for proc, url, log in servers:
            _wait_healthy(url, proc, log)
        pages = []
        for _proc, url, _log in servers:
            page = context.new_page()
            page.goto(url, timeout=60_000)
            page.wait_for_selector(CHAT_INPUT, timeout=FIRST_PAGE_MS)
            page.get_by_text("1 source(s) · ", exact=False).first.wait_for()
            answer = _ask(page, "What did peer support worker training cover?", 0)
            assert "training" in answer.inner_text().lower()
            pages.append(page)
        # A rebuild from a third process (another machine's work folder) adds a study.
        write_doc(sources, "second-study", ["burnout", "youth"], repeat=2)
        out = subprocess.run(build, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        for page in pages:  # the next page run of each server serves the new version
            answer = _ask(page, "Did peer workers report burnout?", 2)
            assert "burnout" in answer.inner_text().lower()
            page.get_by_text("2 source(s) · ", exact=False).first.wait_for(timeout=60_000)
        for proc, _url, log in servers:
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]  # never restarted
    finally:
        for proc, _url, _log in servers:
            _stop(proc)
