"""The index rebuild, watched from a background thread so that questions keep being answered;
the build itself runs in a child process (app/rebuild_process.py).

One job per index folder and process (app/ui/resources.py caches it across sessions). The old
index serves until the builder switches ACTIVE; pages then load the new version on their next run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from peerqa.index.builder import BuildError
from peerqa.records import IngestReport
from peerqa.settings import Settings

log = logging.getLogger("peerqa.app")
Ingest = Callable[..., IngestReport]

BUSY = "Another rebuild is already running (perhaps from the command line); try again when it has finished."
UNEXPECTED = "The rebuild failed unexpectedly; the current index keeps serving. The details are in the server log."


@dataclass(frozen=True)
class RebuildStatus:
    generation: int = 0  # how many rebuilds this job has started; 0 = none yet
    running: bool = False
    message: str = ""
    fraction: float = 0.0
    started: float | None = None
    finished: float | None = None
    report: IngestReport | None = None
    error: str = ""


def _default_ingest(*args: Any, **kwargs: Any) -> IngestReport:
    # In a child process at lower priority with few threads, so that answers keep their speed.
    from peerqa.app.rebuild_process import run_ingest_in_child

    return run_ingest_in_child(*args, **kwargs)


class RebuildJob:
    def __init__(self, settings: Settings, ingest: Ingest = _default_ingest) -> None:
        self.settings = settings
        self._ingest = ingest
        self._lock = threading.Lock()
        self._status = RebuildStatus()
        self._thread: threading.Thread | None = None

    def status(self) -> RebuildStatus:
        with self._lock:
            return self._status

    def start(self, rebuild: bool = False) -> bool:
        """Start a rebuild unless one is running; False if one was."""
        with self._lock:
            if self._status.running:
                return False
            self._status = RebuildStatus(
                generation=self._status.generation + 1, running=True, message="Starting", started=time.time(),
                report=self._status.report,  # keep the last report's per-file errors on show meanwhile
            )
            self._thread = threading.Thread(target=self._run, args=(rebuild,), name="peerqa-rebuild", daemon=True)
            self._thread.start()
        return True

    def wait(self, timeout: float) -> bool:
        """Block until the running rebuild ends (for tests and shutdown); True if it ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.status().running

    def _progress(self, message: str, fraction: float) -> None:
        with self._lock:
            self._status = replace(self._status, message=message, fraction=max(0.0, min(1.0, float(fraction))))

    def _finish(self, report: IngestReport | None, error: str) -> None:
        with self._lock:
            self._status = replace(
                self._status, running=False, finished=time.time(), error=error,
                report=report if report is not None else self._status.report,
                fraction=1.0 if report is not None else self._status.fraction,
                message="Done" if report is not None else "Stopped",
            )

    def _run(self, rebuild: bool) -> None:
        try:
            report = self._ingest(self.settings, None, rebuild=rebuild, show_progress=False, progress=self._progress)
        except BuildError as exc:  # nothing could be ingested; the message names the files and why
            self._finish(None, f"Nothing was rebuilt: {exc}")
        except RuntimeError as exc:
            if "another build is running" in str(exc):
                self._finish(None, BUSY)
            else:
                log.exception("index rebuild failed")
                self._finish(None, UNEXPECTED)
        except Exception:
            log.exception("index rebuild failed")
            self._finish(None, UNEXPECTED)
        else:
            self._finish(report, "")
