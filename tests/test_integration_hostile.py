"""Hostile sources, crash safety, concurrency and the no-pickle rule (issue: hardening).

Every hostile file is generated here; each must get a clear per-file message while the rest
ingest. Parsing runs in a child process with time and memory limits, so none can take the
build down.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from pypdf import PdfWriter

from peerqa.app.answer.engine import Engine
from peerqa.index.builder import build_index
from peerqa.index.store import load_index, read_active
from tests.conftest import REPO, REVIEW_PDF
from tests.fakes import FakeEmbedder
from tests.pdfgen import make_pdf
from tests.test_unit_ingest import MINI_DOC

pytestmark = [pytest.mark.integration, pytest.mark.hostile]


def _encrypted(path: Path, user_password: str) -> None:
    src = make_pdf(path.with_suffix(".plain"), [["ENCRYPTED STUDY", "Peer workers in encrypted files said a lot."]])
    writer = PdfWriter(clone_from=str(src))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    with path.open("wb") as fh:
        writer.write(fh)
    src.unlink()


def _blank_pages(path: Path, n: int) -> None:
    writer = PdfWriter()
    for _ in range(n):
        writer.add_blank_page(width=595, height=842)
    with path.open("wb") as fh:
        writer.write(fh)


def _bomb(path: Path) -> None:
    """A one-page PDF whose content stream inflates to ~400 MB."""
    payload = zlib.compress(b"0 0 m " * (400_000_000 // 6), 9)
    body = io.BytesIO()
    body.write(b"%PDF-1.4\n")
    offsets = []
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(payload) + payload + b"\nendstream",
    ]
    for i, obj in enumerate(objs, start=1):
        offsets.append(body.tell())
        body.write(b"%d 0 obj\n" % i + obj + b"\nendobj\n")
    xref = body.tell()
    body.write(b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets))
    body.write(b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    path.write_bytes(body.getvalue())


def test_hostile_sources_get_clear_messages_and_the_rest_ingest(tmp_path, settings_factory):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "good.txt").write_text(MINI_DOC, encoding="utf-8")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "truncated.pdf").write_bytes(REVIEW_PDF.read_bytes()[:4000])
    (folder / "random.pdf").write_bytes(random.Random(1).randbytes(20000))
    _encrypted(folder / "locked.pdf", user_password="secret")
    _encrypted(folder / "open-encrypted.pdf", user_password="")
    make_pdf(folder / "image-only.pdf", [[]])
    _blank_pages(folder / "blank-5000.pdf", 5000)
    _bomb(folder / "bomb.pdf")
    (folder / "utf16.txt").write_text(
        "UTF SIXTEEN NOTES\n\nFamily carers valued peer workers who had cared for relatives themselves.\n", encoding="utf-16"
    )
    (folder / "legacy.txt").write_bytes(
        "LEGACY NOTES\n\nCaf\xe9 groups run by peer workers helped people to reconnect.\n".encode("cp1252")
    )
    (folder / "..hidden-dots.txt").write_text("DOTS\n\nA file whose name starts with two dots is still a source.\n")
    (folder / "zz-copy-of-good.txt").write_text(MINI_DOC, encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("SECRET\n\nThis file lies outside the sources folder and must not be read.\n")
    os.symlink(outside, folder / "escape.txt")

    started = time.monotonic()
    report = build_index(settings_factory(sources_dir=folder), FakeEmbedder(), parse_timeout_s=60)
    elapsed = time.monotonic() - started
    status = {s.path: s for s in report.sources}

    for name, reason in {
        "empty.pdf": "empty",
        "truncated.pdf": "",
        "random.pdf": "not a readable PDF",
        "locked.pdf": "password",
        "image-only.pdf": "no extractable text",
        "blank-5000.pdf": "",
        "bomb.pdf": "",
    }.items():
        assert status[name].status == "failed", (name, status[name])
        assert reason.lower() in status[name].error.lower() and status[name].error, (name, status[name].error)
    for name in ("good.txt", "open-encrypted.pdf", "utf16.txt", "legacy.txt"):
        assert status[name].status == "ok" and status[name].chunks > 0, (name, status[name])
    assert status["escape.txt"].status == "skipped" and "outside" in status["escape.txt"].error
    assert status["..hidden-dots.txt"].status == "skipped" and "hidden file" in status["..hidden-dots.txt"].error
    for s in report.sources:  # causes in plain words: no exception class names, no exit codes
        assert not re.search(r"\b[A-Z][A-Za-z]*(Error|Exception)\b|Traceback|exit code", s.error), (s.path, s.error)
    assert status["zz-copy-of-good.txt"].status == "duplicate"
    index = load_index(settings_factory(sources_dir=folder).index_dir)
    assert not any("must not be read" in c.text for c in index.chunks)
    assert any("Café groups" in c.text for c in index.chunks)
    assert any("Family carers valued" in c.text for c in index.chunks)
    assert elapsed < 300  # a generous bound: every parse has a 60 s limit


def test_killed_ingest_leaves_the_previous_index_serving(review_index, tmp_path):
    settings, _ = review_index
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir)
    before = read_active(index_dir)
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(REVIEW_PDF, sources / REVIEW_PDF.name)
    big = "\n\n".join(
        f"Paragraph {i} records how peer workers in district {i} supported {i % 7 + 2} families in crisis."
        for i in range(1200)
    )
    (sources / "big-new-source.txt").write_text("NEW SOURCE\n\n" + big, encoding="utf-8")
    cmd = [sys.executable, "-m", "peerqa.app.cli", "ingest", str(sources), "--index-dir", str(index_dir)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 300
    assert proc.stderr is not None
    while time.monotonic() < deadline and "Embedding" not in seen:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
    assert "Embedding" in seen, seen[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert read_active(index_dir) == before
    loaded = load_index(index_dir)
    assert loaded.version == before and not loaded.warnings
    engine = Engine.from_settings(settings.model_copy(update={"index_dir": index_dir}))
    assert engine.ask("What is peer respite?").citations
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_active(index_dir) != before
    assert any(c.source_path == "big-new-source.txt" for c in load_index(index_dir).chunks)


def test_eight_threads_get_the_same_answers_as_a_serial_run(review_index):
    settings, _ = review_index
    engine = Engine.from_settings(settings)
    import json

    questions = [json.loads(line)["question"] for line in (REPO / "eval" / "questions.jsonl").read_text().splitlines()][:50]
    serial = {q: engine.ask(q).answer for q in questions}
    errors: list[BaseException] = []
    results: list[dict[str, str]] = []

    def worker() -> None:
        try:
            results.append({q: engine.ask(q).answer for q in questions})
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors
    assert len(results) == 8 and all(r == serial for r in results)


def test_no_pickle_in_code_or_index(review_index):
    settings, _ = review_index
    banned = ("import pickle", "pickle.load", "allow_dangerous_deserialization", "cloudpickle", "joblib.load", "allow_pickle=True")
    for folder in ("peerqa", "ingest", "index", "app", "prompts", "eval", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for word in banned:
                assert word not in text, f"{path}: {word}"
    for path in settings.index_dir.rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:2]
            assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), path
            assert path.suffix not in (".pkl", ".pickle", ".joblib"), path


def test_questions_are_not_logged(review_index, caplog):
    settings, _ = review_index
    engine = Engine.from_settings(settings)
    secret = "my neighbour Zebulon with schizophrenia"
    with caplog.at_level("DEBUG"):
        engine.ask(f"What does peer support offer {secret}?")
    assert secret not in caplog.text
