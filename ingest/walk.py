"""The walk over the sources folder: every entry ends up either a file to ingest or a line saying
why it was passed over. Nothing in the folder stops the walk.

Passed over, each by name with its reason: symbolic-link loops, broken links, links leading out
of the folder or to a folder (links are not followed into folders), folders that cannot be read,
folders nested too deeply, hidden files and folders (a name starting with a dot, ".." included),
names with control characters or bytes that are no text, and anything that is not a regular file.
Names are shown with such characters escaped, so a report line is always one printable line.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_DEPTH = 24


@dataclass
class Skipped:
    name: str  # printable: a file's name, or a folder's path relative to the walk's root with a "/"
    reason: str
    failed: bool = False  # True: reported as failed (the user asked for it), not as skipped


def printable(name: str) -> str:
    """A name with control characters and undecodable bytes escaped (\\n, \\x1b, \\udcff → \\xff)."""
    out = []
    for ch in name:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


def odd_name(name: str) -> str:
    """Why a file name cannot be used as a source's name ("" when it can)."""
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in name):
        return "its name has bytes that are not UTF-8 text; rename the file"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or 0x80 <= ord(ch) < 0xA0 for ch in name):
        return "its name has control characters (such as a line break); rename the file"
    if not name.strip():
        return "its name is only spaces; rename the file"
    return ""


def _inside(path: Path, folder: Path) -> bool:
    try:
        target = os.path.realpath(path)
        root = os.path.realpath(folder)
    except (OSError, RuntimeError, ValueError):
        return False
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _link_problem(path: Path, folder: Path) -> tuple[str, bool]:
    """(why a symbolic link is passed over, "" if it is not; whether it leads to a folder)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself)", False
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "broken symbolic link (its target does not exist)", False
        return f"symbolic link that cannot be followed ({exc.strerror or exc})", False
    if not _inside(path, folder):
        return "symbolic link leading outside the sources folder", False
    if stat.S_ISDIR(st.st_mode):
        return "symbolic link to a folder (links are not followed into folders)", True
    return "", False


def classify(
    path: Path, folder: Path, suffixes: set[str], display: str | None = None, explicit: bool = False
) -> Skipped | None:
    """Why one file is passed over, or None to ingest it (a hidden file named explicitly is ingested)."""
    name = display or printable(path.name)
    if path.name.startswith(".") and not explicit:
        return Skipped(name, "hidden file (its name starts with a dot)")
    problem = odd_name(path.name)
    if problem:
        return Skipped(name, problem)
    if path.is_symlink():
        reason, _ = _link_problem(path, folder)
        if reason:
            return Skipped(name, reason)
    if path.suffix.lower() not in suffixes:
        return Skipped(name, f"unsupported file type '{printable(path.suffix) or 'none'}'")
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return Skipped(name, f"cannot be read ({exc.strerror or exc})", failed=True)
    if not stat.S_ISREG(mode):
        return Skipped(name, "not a regular file")
    return None


def walk(root: Path, suffixes: set[str]) -> tuple[list[Path], list[Skipped]]:
    """Files under `root` to ingest (sorted by path) and what was passed over."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        rel = printable(str(folder.relative_to(root))) if folder != root else ""
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            what = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
            skipped.append(Skipped(f"{rel or printable(folder.name)}/", f"folder cannot be read ({what}); its files were not searched"))
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            shown = f"{rel}/{printable(entry.name)}" if rel else printable(entry.name)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name.startswith("."):
                    skipped.append(Skipped(f"{shown}/", "hidden folder (its name starts with a dot), not searched"))
                elif odd_name(entry.name):
                    skipped.append(Skipped(f"{shown}/", f"folder not searched: {odd_name(entry.name)}"))
                elif depth + 1 > MAX_DEPTH:
                    skipped.append(Skipped(f"{shown}/", f"folder nested more than {MAX_DEPTH} levels deep, not searched"))
                else:
                    subfolders.append((path, depth + 1))
                continue
            outcome = classify(path, root, suffixes, display=printable(entry.name))
            if outcome is None:
                files.append(path)
            else:
                skipped.append(outcome)
        stack.extend(reversed(subfolders))
    return sorted(files), skipped
