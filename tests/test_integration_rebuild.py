"""The app's rebuild runs in a child process at lower priority with bounded threads, with the real
model: progress and the report come back, and a busy or impossible build is told apart."""

from __future__ import annotations

import os

import pytest

from peerqa.app.rebuild_process import run_ingest_in_child
from peerqa.app.runtime import BuildBusyError, build_lock
from peerqa.app.ui.rebuild import BUSY, RebuildJob
from peerqa.index.builder import BuildError
from peerqa.index.store import load_index, read_active
from tests.test_unit_ingest import MINI_DOC

pytestmark = pytest.mark.integration


def _child_niceness(seen: list[int]) -> None:
    """Record the niceness of the rebuild child of this process while progress comes in."""
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) != me:  # field 4: parent pid; field 19: nice
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"peerqa.app.rebuild_process" in cmdline:  # not other children (e.g. multiprocessing's tracker)
            seen.append(int(stat[16]))


def test_the_rebuild_child_builds_reports_progress_and_runs_niced(settings_factory, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "mini.txt").write_text(MINI_DOC, encoding="utf-8")
    settings = settings_factory(sources_dir=sources)
    steps: list[tuple[str, float]] = []
    niceness: list[int] = []

    def progress(message: str, fraction: float) -> None:
        steps.append((message, fraction))
        _child_niceness(niceness)

    report = run_ingest_in_child(settings, progress=progress)
    assert report.chunks_total > 0 and report.index_version == read_active(settings.index_dir)
    assert load_index(settings.index_dir).chunks
    assert any(m.startswith("Embedding") for m, _ in steps) and steps[-1][1] <= 1.0
    base = os.nice(0)
    assert niceness and min(niceness) >= min(19, base + 10)  # 19 is the ceiling (a suite run under nice)

    with build_lock(settings.index_dir), pytest.raises(BuildBusyError, match="another build is running"):
        run_ingest_in_child(settings)
    (sources / "mini.txt").unlink()
    (sources / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(BuildError, match="no source could be ingested"):
        run_ingest_in_child(settings)


def test_the_app_job_uses_the_child_and_says_when_another_build_runs(settings_factory, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "mini.txt").write_text(MINI_DOC, encoding="utf-8")
    settings = settings_factory(sources_dir=sources)
    job = RebuildJob(settings)
    assert job.start() and job.wait(300)
    status = job.status()
    assert status.error == "" and status.report is not None and status.report.chunks_total > 0
    assert status.report.index_version == read_active(settings.index_dir)
    with build_lock(settings.index_dir):
        assert job.start() and job.wait(300)
    assert job.status().error == BUSY
