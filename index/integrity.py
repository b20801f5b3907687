"""Integrity of what the index folder holds: the manifest's own checksum and the ACTIVE pointer.

* The manifest carries `checksum`: the sha256 of its canonical JSON (keys sorted, no white
  space) without that field. Since the manifest lists every data file's sha256, the checksum
  covers the whole version: a flipped bit anywhere (a source's `kind`, a count, a file's
  checksum, the checksum itself) makes the version invalid, and loading falls back.
* ACTIVE holds the serving version's name and, on a second line, that name's sha256; a pointer
  that is missing, empty, damaged or names no version is reported, and the newest version that
  validates is served instead (with a warning that `index-info --json` and `ingest --json` show).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

CHECKSUM_KEY = "checksum"
_VERSION_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,120}$")


def manifest_checksum(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its checksum added (last)."""
    sealed = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    sealed[CHECKSUM_KEY] = manifest_checksum(sealed)
    return sealed


def manifest_problem(manifest: Any) -> str:
    """Why a parsed manifest cannot be trusted ("" when it can)."""
    if not isinstance(manifest, dict):
        return "manifest is not a JSON object"
    stored = manifest.get(CHECKSUM_KEY)
    if not isinstance(stored, str) or not stored:
        return "manifest has no checksum of its own (built by an older version of peerqa)"
    if stored != manifest_checksum(manifest):
        return "manifest is damaged (its checksum does not match its content)"
    return ""


def pointer_text(version: str) -> str:
    return f"{version}\nsha256 {hashlib.sha256(version.encode()).hexdigest()}\n"


def read_pointer(index_dir: Path) -> tuple[str | None, str]:
    """(the version ACTIVE names, or None; what is wrong with the pointer, "" when nothing)."""
    pointer = index_dir / "ACTIVE"
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "damaged (not text)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None, "empty"
    name = lines[0]
    if not _VERSION_NAME.match(name):
        return None, "damaged (not a version name)"
    if len(lines) > 1:
        expected = "sha256 " + hashlib.sha256(name.encode()).hexdigest()
        if lines[1] != expected or len(lines) > 2:
            return None, "damaged (its checksum does not match)"
    if not (index_dir / name / "manifest.json").is_file():
        return None, f"stale (it names version {name}, which does not exist)"
    return name, ""
