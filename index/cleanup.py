"""Leftovers of builds that no longer run: `.build-<version>/` folders and `.ACTIVE.<pid>.tmp` files.

A build holds an exclusive `flock` on `.build-<version>.lock` (beside its folder) for as long as
it runs; the kernel drops the lock when the process ends, however it ends (SIGKILL included).
So a build folder whose lock can be taken belongs to a build that is gone, and the next ingest
removes it and says so in its output. A folder of a build still running is left alone, whichever
process runs it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path


def _lock_path(build_folder: Path) -> Path:
    return build_folder.with_name(build_folder.name + ".lock")


class BuildClaim:
    """Marks a build folder as in use until `release()` or the end of the process."""

    def __init__(self, build_folder: Path):
        self.lock = _lock_path(build_folder)
        self._fh = self.lock.open("w")
        fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fh.write(f"{os.getpid()}\n")
        self._fh.flush()

    def release(self) -> None:
        if self._fh.closed:
            return
        self.lock.unlink(missing_ok=True)
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def claim_build_folder(build_folder: Path) -> BuildClaim:
    return BuildClaim(build_folder)


def _running(build_folder: Path) -> bool:
    lock = _lock_path(build_folder)
    if not lock.exists():
        return False
    try:
        with lock.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return True  # cannot tell: leave it
    return False


def _size_mb(folder: Path) -> float:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total / 1e6


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_builds(index_dir: Path) -> list[str]:
    """Remove leftovers of builds that no longer run; one line per folder removed."""
    lines: list[str] = []
    if not index_dir.is_dir():
        return lines
    for folder in sorted(index_dir.glob(".build-*")):
        if folder.name.endswith(".lock"):
            continue
        if not folder.is_dir() or _running(folder):
            continue
        size = _size_mb(folder)
        shutil.rmtree(folder, ignore_errors=True)
        _lock_path(folder).unlink(missing_ok=True)
        if not folder.exists():
            lines.append(f"removed {folder.name}/ ({size:.1f} MB), left by a build that no longer runs")
    for lock in index_dir.glob(".build-*.lock"):
        folder = lock.with_name(lock.name.removesuffix(".lock"))
        if not folder.exists() and not _running(folder):
            lock.unlink(missing_ok=True)
    for tmp in index_dir.glob(".ACTIVE.*.tmp"):
        pid = tmp.name.split(".")[2]
        if pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
    return lines
