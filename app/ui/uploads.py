"""Checking and saving uploaded PDFs into the sources folder.

An upload is untrusted: its name may carry a path ('../../x.pdf'), hidden-file dots, spaces or
shell characters, and its bytes may not be a PDF whatever the extension says. Only a checked
PDF is written, under a sanitised name, atomically, never over a different existing file.

Several sessions (and `peerqa` on the command line) may add files at once. Each upload is written
to its own temporary file, then hard-linked to the final name: the link fails if that name exists,
so a name is claimed exactly once and nothing is ever overwritten. The duplicate check and the
claim run under a lock on the folder, so two sessions sending the same bytes keep one copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # also Streamlit's server.maxUploadSize (set by `peerqa serve`)
PDF_MAGIC = b"%PDF-"
# PDF readers accept the header anywhere in the first KiB (some writers prefix junk bytes).
MAGIC_WINDOW = 1024
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UploadOutcome:
    original: str
    saved_as: str = ""  # the file name in the sources folder; empty if refused
    message: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.saved_as)


def safe_filename(name: str) -> str:
    """A basename of [A-Za-z0-9._-] only, no leading dot, ending in .pdf, at most 120 characters."""
    base = PurePosixPath(name.replace("\\", "/")).name  # Windows browsers may send a full path
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._-")
    stem = re.sub(r"_+", "_", stem)[: MAX_NAME_CHARS - 4] or "upload"
    return f"{stem}.pdf" if ext.lower() == "pdf" else f"{stem}.{_UNSAFE.sub('', ext)[:10] or 'bin'}"


def check_pdf(name: str, data: bytes) -> str:
    """Why this upload is refused, or '' if it is a PDF of acceptable size."""
    if not name.lower().endswith(".pdf"):
        return "only PDF files (.pdf) can be added"
    if not data:
        return "the file is empty"
    if len(data) > MAX_UPLOAD_BYTES:
        return f"the file is {len(data) / 1024 / 1024:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 1024 // 1024} MB"
    if PDF_MAGIC not in data[:MAGIC_WINDOW]:
        return "the file is not a PDF (its content does not start like one)"
    return ""


def _same_bytes(folder: Path, digest: str) -> Path | None:
    for path in folder.iterdir():
        if path.is_file() and not path.name.startswith("."):
            if hashlib.sha256(path.read_bytes()).hexdigest() == digest:
                return path
    return None


def _candidates(name: str) -> Iterator[str]:
    stem, ext = name[: -len(".pdf")], ".pdf"
    yield name
    n = 2
    while True:
        yield f"{stem}-{n}{ext}"
        n += 1


_process_lock = threading.Lock()  # flock is per open file, so threads of one server also take this


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (no lock file to show up among the sources)."""
    with _process_lock:
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _claim(tmp: Path, folder: Path, name: str) -> str:
    """Link the temporary file to the first free name; never replaces an existing file."""
    for candidate in _candidates(name):
        try:
            os.link(tmp, folder / candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: an exclusive create does the claiming
            try:
                with (folder / candidate).open("xb") as fh:
                    fh.write(tmp.read_bytes())
                return candidate
            except FileExistsError:
                continue
    raise AssertionError("unreachable")


def save_pdf(sources_dir: Path, name: str, data: bytes) -> UploadOutcome:
    problem = check_pdf(name, data)
    if problem:
        return UploadOutcome(original=name, message=problem)
    sources_dir.mkdir(parents=True, exist_ok=True)
    # A hidden, unique temporary name: the ingest skips dot-files, so a half-written PDF is never read.
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=sources_dir)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; a source is as readable as any other
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with _folder_lock(sources_dir):
            existing = _same_bytes(sources_dir, hashlib.sha256(data).hexdigest())
            if existing is not None:
                return UploadOutcome(original=name, message=f"already in the sources as {existing.name}")
            target = _claim(tmp, sources_dir, safe_filename(name))
    finally:
        tmp.unlink(missing_ok=True)
    renamed = f" (renamed from {name})" if target != PurePosixPath(name.replace("\\", "/")).name else ""
    return UploadOutcome(original=name, saved_as=target, message=f"saved as {target}{renamed}")
