"""The parser's child process: limits it runs under, and how it is tied to its parent.

* It dies with its parent. On Linux the kernel sends it SIGKILL when the parent goes
  (prctl PR_SET_PDEATHSIG), so a SIGKILLed ingest never leaves a parser behind, blocked on a
  pipe nobody reads; elsewhere a watchdog thread notices the parent has gone.
* Its stderr goes to a file of its own, so a library's backtrace (pypdf warnings, a Rust panic
  in the tokenizer) never reaches the user's terminal; the parent reads the tail to tell a
  memory failure from a crash, and logs it at debug level.
* Memory is limited with RLIMIT_AS, so a decompression bomb costs one file.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask for SIGKILL when the parent dies; exit now if it already has."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent went before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while True:
                time.sleep(1.0)
                if os.getppid() != parent_pid:
                    os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def redirect_stderr(path: str) -> None:
    """Send this process's fd 2 (and so Python's and native libraries' stderr) to `path`."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return
    os.dup2(fd, 2)
    os.close(fd)


def limit_memory(memory_mb: int) -> None:
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        # Diagnostic output is capped too: a file that makes a library warn forever cannot fill the disk.
        cap = 64 * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))
    except (ImportError, ValueError, OSError):
        pass


def read_tail(path: Path, limit: int = 4000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
