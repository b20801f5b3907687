"""Ingest that cannot be sunk (issue 17): a budget per source, only text indexed, failures in plain
words, a folder walk that survives the folder, integrity end to end, and clean-up after kills.

Fast tests with the fake embedder; the parser still runs in its child process.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from peerqa.index.builder import build_index
from peerqa.index.cleanup import claim_build_folder
from peerqa.index.store import IndexLoadError, list_versions, load_index, read_active
from tests.fakes import FakeEmbedder
from tests.pdfgen import make_pdf
from tests.test_unit_ingest import MINI_DOC

pytestmark = [pytest.mark.unit, pytest.mark.hostile]

# A failure message names the cause in words: no exception class, no backtrace, no exit code.
JARGON = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b|Traceback|exit code|panicked|RUST_BACKTRACE")
GOOD = "GOOD NOTES\n\nPeer workers in this file said a great deal about the support they gave to families."


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    return folder


def _status(report) -> dict:
    return {s.path: s for s in report.sources}


def _plain(report) -> None:
    for s in report.sources:
        assert not JARGON.search(s.error), (s.path, s.error)


# -- 1. a budget per source ---------------------------------------------------------------------


def test_a_source_over_its_passage_budget_fails_by_name_and_the_rest_ingest(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    (folder / "long.txt").write_text(
        "LONG NOTES\n\n" + "\n\n".join(f"Paragraph {i} says that peer workers in area {i} met every week." for i in range(400)),
        encoding="utf-8",
    )
    settings = settings_factory(sources_dir=folder, budget={"max_chunks_per_source": 10})
    report = build_index(settings, FakeEmbedder())
    status = _status(report)
    assert status["long.txt"].status == "failed" and "limit of 10 for one source" in status["long.txt"].error
    assert status["good.txt"].status == "ok"
    assert {c.source_path for c in load_index(settings.index_dir).chunks} == {"good.txt"}
    _plain(report)


def test_a_page_broken_into_fragments_fails_its_source(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    lines = [f"Sentence {i} on this crowded page is about peer support in rural areas." for i in range(60)]
    make_pdf(folder / "crowded.pdf", [lines])
    settings = settings_factory(sources_dir=folder, budget={"max_chunks_per_page": 2})
    status = _status(build_index(settings, FakeEmbedder()))
    assert status["crowded.pdf"].status == "failed" and "page 1 yields" in status["crowded.pdf"].error
    assert status["good.txt"].status == "ok"


class GlacialEmbedder(FakeEmbedder):
    """Slow on one source's texts only: its embedding, not its parse, runs out of time."""

    def embed(self, texts):
        time.sleep(0.15 * sum("glacial" in t.lower() for t in texts))
        return super().embed(texts)


def test_the_time_limit_covers_embedding_too(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    (folder / "slow.txt").write_text(
        "SLOW NOTES\n\n" + "\n\n".join(f"The glacial review {i} covered peer workers. It was slow." for i in range(120)),
        encoding="utf-8",
    )
    settings = settings_factory(sources_dir=folder, budget={"source_seconds": 12})
    started = time.monotonic()
    report = build_index(settings, GlacialEmbedder())
    status = _status(report)
    assert status["slow.txt"].status == "failed", status["slow.txt"]
    assert "time limit of 12 s" in status["slow.txt"].error and "embedding" in status["slow.txt"].error
    assert status["good.txt"].status == "ok"
    assert time.monotonic() - started < 60
    assert {c.source_path for c in load_index(settings.index_dir).chunks} == {"good.txt"}


def test_a_cached_parse_is_held_to_lowered_limits(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    (folder / "long.txt").write_text("LONG\n\n" + "\n\n".join(f"Item {i} is about peer work in town {i}." for i in range(200)))
    build_index(settings_factory(sources_dir=folder), FakeEmbedder())
    report = build_index(settings_factory(sources_dir=folder, budget={"max_chunks_per_source": 3}), FakeEmbedder())
    assert _status(report)["long.txt"].status == "failed"


# -- 3. only text is indexed, failures in plain words ----------------------------------------------


def test_binary_and_garbage_text_files_fail_as_not_text(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    (folder / "random.txt").write_bytes(random.Random(3).randbytes(200_000))
    (folder / "program.txt").write_bytes(Path(sys.executable).resolve().read_bytes()[:300_000])
    (folder / "latin.md").write_bytes("# CAFÉ NOTES\n\nCafé groups run by peer workers helped people.".encode("cp1252"))
    (folder / "utf16-nobom.txt").write_bytes("UTF NOTES\n\nPeer workers without a BOM are still text.".encode("utf-16-le"))
    (folder / "symbols.txt").write_text("%$#@!" * 2000 + " 12 34 56 78 " * 500, encoding="utf-8")
    report = build_index(settings_factory(sources_dir=folder), FakeEmbedder())
    status = _status(report)
    for name in ("random.txt", "program.txt", "symbols.txt"):
        assert status[name].status == "failed" and status[name].error.startswith("not a text file ("), status[name]
    assert "NUL bytes" in status["program.txt"].error
    for name in ("good.txt", "latin.md", "utf16-nobom.txt"):
        assert status[name].status == "ok", status[name]
    index = load_index(settings_factory(sources_dir=folder).index_dir)
    assert all(c.source_path in ("good.txt", "latin.md", "utf16-nobom.txt") for c in index.chunks)
    _plain(report)


def _long_line_pdf(path: Path, n_bytes: int) -> None:
    import zlib

    words = (b"peer support work " * (n_bytes // 18 + 1))[:n_bytes]
    payload = zlib.compress(b"BT /F1 10 Tf 50 800 Td (" + words + b") Tj ET", 9)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(payload) + payload + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(bytes(out))


def test_one_huge_line_fails_in_plain_words(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    _long_line_pdf(folder / "one-line.pdf", 3_000_000)
    (folder / "one-line.txt").write_text("ONE LINE\n\n" + "peer support work " * 400_000, encoding="utf-8")
    report = build_index(settings_factory(sources_dir=folder), FakeEmbedder())
    status = _status(report)
    assert status["one-line.pdf"].status == "failed" and "page 1 holds 3,000,000 characters" in status["one-line.pdf"].error
    assert status["one-line.txt"].status == "failed" and "for one source" in status["one-line.txt"].error
    assert status["good.txt"].status == "ok"
    _plain(report)


def test_unexpected_errors_and_crashes_are_told_in_plain_words():
    from peerqa.ingest.failures import child_exit, unexpected

    assert unexpected("cutting the text into passages", ZeroDivisionError("division by zero")) == (
        "could not be read: an unexpected error while cutting the text into passages (division by zero)"
    )
    assert "memory" in unexpected("reading the file", MemoryError())
    assert "nested too deeply" in unexpected("reading the file", RecursionError("maximum recursion depth"))
    assert child_exit(-6, "memory allocation of 123456 bytes failed\nstack backtrace:", 2048) == (
        "ran out of memory while being read (the limit is 2048 MB)"
    )
    assert "crashed" in child_exit(-11, "", 2048) and "system" in child_exit(-9, "", 2048)
    for message in (child_exit(-6, "", 2048), child_exit(3, "", None)):
        assert not JARGON.search(message), message


def test_the_memory_limit_is_told_in_plain_words_and_the_childs_stderr_stays_out(tmp_path, capfd):
    """A parser child over its memory limit dies in a library (OpenBLAS, or the tokenizer's Rust code,
    which abort with a message and a backtrace on stderr): that stderr goes to the child's own file,
    and the parent says "ran out of memory", nothing else."""
    from peerqa.ingest import parse
    from peerqa.ingest.loaders import SourceError
    from peerqa.settings import BudgetSettings, ChunkingSettings, ModelSettings

    path = tmp_path / "x.txt"
    path.write_text(GOOD)
    with pytest.raises(SourceError) as err:
        parse.parse_isolated(path, "id", ChunkingSettings(), ModelSettings(), timeout_s=60, budget=BudgetSettings(memory_mb=100))
    assert str(err.value) == "ran out of memory while being read (the limit is 100 MB)"
    _out, errtext = capfd.readouterr()
    assert not re.search(r"OpenBLAS|Traceback|MemoryError|memory allocation", errtext), errtext


# -- 4. the folder walk survives the folder --------------------------------------------------------


def _hostile_folder(tmp_path: Path) -> Path:
    folder = _folder(tmp_path)
    os.symlink("loop-b", folder / "loop-a")
    os.symlink("loop-a", folder / "loop-b")
    os.symlink(".", folder / "itself")
    os.symlink(folder / "missing.txt", folder / "broken.txt")
    (folder / "..two-dots.txt").write_text(GOOD)
    (folder / ".hidden.md").write_text(GOOD)
    (folder / ".git").mkdir()
    (folder / ".git" / "notes.txt").write_text(GOOD)
    (folder / "line\nbreak.txt").write_text(GOOD)
    (folder / os.fsdecode(b"latin-\xe9.txt")).write_text(GOOD)
    (folder / "caf\u00e9 notes.txt").write_text("CAFE NOTES\n\nCafé groups run by peer workers helped people to reconnect.")
    os.mkfifo(folder / "pipe.txt")
    locked = folder / "locked"
    locked.mkdir()
    (locked / "inside.txt").write_text(GOOD)
    locked.chmod(0)
    return folder


def test_the_folder_walk_reports_every_odd_entry_by_name(tmp_path, settings_factory, monkeypatch):
    folder = _hostile_folder(tmp_path)
    if os.geteuid() == 0:  # root reads any folder: make this one fail as it would for anyone else
        real = os.scandir

        def scandir(path):  # type: ignore[no-untyped-def]
            if Path(path).name == "locked":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr("peerqa.ingest.walk.os.scandir", scandir)
    try:
        report = build_index(settings_factory(sources_dir=folder), FakeEmbedder())
    finally:
        (folder / "locked").chmod(0o755)
    status = _status(report)
    expect = {
        "loop-a": "symbolic link loop",
        "loop-b": "symbolic link loop",
        "itself": "link to a folder",
        "broken.txt": "broken symbolic link",
        "..two-dots.txt": "hidden file",
        ".hidden.md": "hidden file",
        ".git/": "hidden folder",
        "line\\nbreak.txt": "control characters",
        "latin-\\xe9.txt": "not UTF-8",
        "pipe.txt": "not a regular file",
        "locked/": "folder cannot be read (permission denied)",
    }
    for name, reason in expect.items():
        assert name in status, (name, sorted(status))
        assert status[name].status == "skipped" and reason in status[name].error, (name, status[name])
    assert status["good.txt"].status == "ok" and status["café notes.txt"].status == "ok"
    assert report.index_version


def test_the_sources_page_lists_a_folder_with_a_symlink_loop(tmp_path):
    from peerqa.app.ui.sources_page import source_rows

    folder = _folder(tmp_path)
    os.symlink("loop", folder / "loop")
    rows = {r["File"]: r for r in source_rows(folder, None, None)}
    assert rows["loop"]["Status"] == "skipped" and "loop" in rows["loop"]["Details"]
    assert rows["good.txt"]["Status"] == "new"


# -- 5. integrity end to end -----------------------------------------------------------------------


def _two_versions(tmp_path: Path, settings_factory):
    folder = _folder(tmp_path)
    settings = settings_factory(sources_dir=folder)
    first = build_index(settings, FakeEmbedder()).index_version
    (folder / "more.txt").write_text(MINI_DOC, encoding="utf-8")
    second = build_index(settings, FakeEmbedder()).index_version
    assert read_active(settings.index_dir) == second != first
    return settings, first, second


def test_every_single_bit_flip_of_the_manifest_is_caught(tmp_path, settings_factory):
    settings, first, second = _two_versions(tmp_path, settings_factory)
    manifest = settings.index_dir / second / "manifest.json"
    original = manifest.read_bytes()
    rng = random.Random(17)
    positions = sorted(rng.sample(range(len(original) * 8), 150))
    served_damaged = []
    for bit in positions:
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        manifest.write_bytes(bytes(flipped))
        try:
            loaded = load_index(settings.index_dir)
        except IndexLoadError:
            continue
        if loaded.version == second:
            served_damaged.append(bit)
        else:
            assert loaded.version == first and loaded.warnings
    manifest.write_bytes(original)
    assert served_damaged == [], f"{len(served_damaged)} flips served unnoticed"
    assert load_index(settings.index_dir).version == second


def test_a_changed_source_kind_in_the_manifest_is_caught(tmp_path, settings_factory):
    settings, first, second = _two_versions(tmp_path, settings_factory)
    path = settings.index_dir / second / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["sources"][0]["kind"] = "review"
    path.write_text(json.dumps(manifest, indent=1))
    loaded = load_index(settings.index_dir)
    assert loaded.version == first and "checksum" in loaded.warnings[0]
    again = build_index(settings, FakeEmbedder())  # the next ingest says so and builds anew
    assert any("unusable" in w and "checksum" in w for w in again.warnings)
    assert load_index(settings.index_dir).version == again.index_version not in (first, second)


@pytest.mark.parametrize("damage", ["deleted", "empty", "garbage", "bit-flip", "nonexistent"])
def test_a_missing_or_damaged_active_pointer_falls_back_with_a_warning(tmp_path, settings_factory, damage):
    settings, first, second = _two_versions(tmp_path, settings_factory)
    pointer = settings.index_dir / "ACTIVE"
    if damage == "deleted":
        pointer.unlink()
    elif damage == "empty":
        pointer.write_text("")
    elif damage == "garbage":
        pointer.write_bytes(b"\x00\xff../../etc/passwd")
    elif damage == "bit-flip":
        raw = bytearray(pointer.read_bytes())
        raw[3] ^= 0x01
        pointer.write_bytes(bytes(raw))
    else:
        pointer.write_text("20990101T000000000000Z-deadbeef\n")
    assert read_active(settings.index_dir) == second
    loaded = load_index(settings.index_dir)
    assert loaded.version == second and "ACTIVE pointer" in loaded.warnings[0]
    again = build_index(settings, FakeEmbedder())
    assert any("ACTIVE pointer" in w for w in again.warnings)
    assert load_index(settings.index_dir).warnings == []  # the new build repaired it


def test_an_active_index_built_with_other_settings_serves_the_older_one_that_matches(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    a = settings_factory(sources_dir=folder)
    b = settings_factory(sources_dir=folder, chunking={"max_tokens": 120})
    older = build_index(a, FakeEmbedder()).index_version
    newer = build_index(b, FakeEmbedder()).index_version
    assert read_active(a.index_dir) == newer
    loaded = load_index(a.index_dir, {"settings_hash": a.index_hash()})
    assert loaded.version == older and "other settings" in loaded.warnings[0]
    assert load_index(a.index_dir, {"settings_hash": b.index_hash()}).version == newer
    with pytest.raises(IndexLoadError, match="rebuild it with"):
        load_index(a.index_dir, {"settings_hash": "0" * 16})


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return super().embed(texts)


def test_a_damaged_embedding_cache_entry_is_recomputed_never_reused(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    (folder / "mini.txt").write_text(MINI_DOC, encoding="utf-8")
    settings = settings_factory(sources_dir=folder)
    build_index(settings, FakeEmbedder())
    clean = load_index(settings.index_dir)
    db = sqlite3.connect(settings.resolved_cache_dir / "embeddings.sqlite")
    with db:  # every cached vector overwritten with noise of the right size
        for text, dim in db.execute("SELECT text, dim FROM emb2").fetchall():
            db.execute("UPDATE emb2 SET vec = ? WHERE text = ?", (random.Random(text).randbytes(4 * dim), text))
    db.close()
    emb = CountingEmbedder()
    report = build_index(settings, emb, rebuild=True)
    assert report.embedded == report.chunks_total and emb.texts
    assert any("failed their checksum and were recomputed" in w for w in report.warnings)
    rebuilt = load_index(settings.index_dir)
    import numpy as np

    q = FakeEmbedder().embed(["peer support in forensic care"])[0]
    assert np.allclose(clean.faiss.reconstruct_n(0, clean.faiss.ntotal) @ q, rebuilt.faiss.reconstruct_n(0, rebuilt.faiss.ntotal) @ q)


def test_a_damaged_cache_file_is_moved_aside_and_rebuilt(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    settings = settings_factory(sources_dir=folder)
    build_index(settings, FakeEmbedder())
    cache = settings.resolved_cache_dir / "embeddings.sqlite"
    raw = bytearray(cache.read_bytes())
    raw[:100] = b"\xff" * 100  # the SQLite header gone
    cache.write_bytes(bytes(raw))
    report = build_index(settings, FakeEmbedder(), rebuild=True)
    assert any("embedding cache" in w and "damaged" in w for w in report.warnings)
    assert list(cache.parent.glob("embeddings.sqlite.damaged-*")) and report.index_version


def test_a_damaged_parse_cache_entry_is_read_again(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    settings = settings_factory(sources_dir=folder)
    build_index(settings, FakeEmbedder())
    entry = next((settings.resolved_cache_dir / "parsed").glob("*.json"))
    entry.write_text(entry.read_text().replace("great deal", "small deal"))  # still valid JSON
    (folder / "more.txt").write_text(MINI_DOC)  # so that a new version is built
    report = build_index(settings, FakeEmbedder())
    assert any("parse cache" in w for w in report.warnings)
    assert any("great deal" in c.text for c in load_index(settings.index_dir).chunks)
    assert not any("small deal" in c.text for c in load_index(settings.index_dir).chunks)


# -- 6. clean up ----------------------------------------------------------------------------------


def test_a_leftover_build_folder_is_removed_by_the_next_ingest_with_a_line(tmp_path, settings_factory):
    folder = _folder(tmp_path)
    settings = settings_factory(sources_dir=folder)
    build_index(settings, FakeEmbedder())
    stale = settings.index_dir / ".build-20260101T000000000000Z-0000dead"
    stale.mkdir()
    (stale / "chunks.jsonl").write_bytes(b"x" * 300_000)
    running = settings.index_dir / ".build-20260101T000000000001Z-0000live"
    claim = claim_build_folder(running)  # a build that still runs (this process holds its lock)
    running.mkdir()
    try:
        report = build_index(settings, FakeEmbedder())  # no change: nothing else to do
        assert report.embedded == 0
        assert not stale.exists() and running.exists()
        assert any(".build-20260101T000000000000Z-0000dead/" in w and "no longer runs" in w for w in report.warnings)
    finally:
        claim.release()
    assert len(list_versions(settings.index_dir)) == 1
