"""Issue 17 through the real command line: a folder that once stopped all ingestion, a parser child
that once outlived a killed ingest, and fall-back warnings in --json."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.pdflatex import lecture_notes_pdf

pytestmark = [pytest.mark.integration, pytest.mark.hostile]
GOOD = "GOOD NOTES\n\nPeer workers in this file said a great deal about the support they gave to families."


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peerqa.app.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_a_symlink_loop_no_longer_stops_the_cli(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "good.txt").write_text(GOOD)
    os.symlink("loop", sources / "loop")
    (sources / "..two-dots.txt").write_text(GOOD)
    out = _cli("ingest", str(sources), "--index-dir", str(tmp_path / "idx"), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    status = {s["source"]: s for s in json.loads(out.stdout)["sources"]}
    assert status["good.txt"]["status"] == "ok"
    assert status["loop"] == {"source": "loop", "status": "skipped", "chunks": 0,
                              "error": "symbolic link loop (the link leads back to itself)"}
    assert status["..two-dots.txt"]["status"] == "skipped" and "hidden" in status["..two-dots.txt"]["error"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find child processes")
def test_a_killed_ingest_takes_its_parser_child_with_it(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    lecture_notes_pdf(sources / "notes.pdf", chapters=60)  # a few seconds of parsing
    proc = subprocess.Popen(
        [sys.executable, "-m", "peerqa.app.cli", "ingest", str(sources), "--index-dir", str(tmp_path / "idx")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    parsers: list[int] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not parsers:
        for child in _children(proc.pid):
            try:
                cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                parsers.append(child)
        time.sleep(0.1)
    assert parsers, "the parser child never started"
    time.sleep(1.5)  # let it get past its start-up, into the parse
    everyone = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in everyone):
        time.sleep(0.2)
    assert not [p for p in everyone if _alive(p)], "children outlived the killed ingest"


def test_index_info_json_warns_when_the_active_pointer_is_gone(review_index, tmp_path):
    settings, _ = review_index
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir)
    (index_dir / "ACTIVE").unlink()
    out = _cli("index-info", "--index-dir", str(index_dir), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout)
    assert info["warnings"] and "ACTIVE pointer is missing" in info["warnings"][0]
    again = _cli("ingest", str(REPO / "sources"), "--index-dir", str(index_dir), "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert any("ACTIVE pointer is missing" in w for w in json.loads(again.stdout)["warnings"])
    assert not json.loads(_cli("index-info", "--index-dir", str(index_dir), "--json").stdout)["warnings"]
