"""`peerqa bench --rebuild-load`: answer times of 4 sessions asking at once, idle and while the
index is rebuilt (re-reading every file), with the rebuild in a thread of the serving process (as
the app did) and in a separate low-priority process (as it does now).

Figures are reported against the target (p95 during a rebuild within 2x of idle), never asserted.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerqa.settings import SHIPPED_SOURCES, Settings

SESSIONS = 4
IDLE_PER_SESSION = 12
TARGET_RATIO = 2.0
Log = Callable[[str], None]


def _percentiles(times: list[float]) -> dict[str, Any]:
    import numpy as np

    if not times:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    return {"n": len(times), "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1), "max_ms": round(max(times), 1)}


def _sessions(engine: Any, questions: list[str], until: Callable[[int], bool]) -> list[float]:
    """SESSIONS threads each asking questions in turn (from different starting points) until
    `until(answers so far in this session)` is true; every answer's wall time in ms."""
    from peerqa.app.answer.engine import QuestionError

    times: list[float] = []
    lock = threading.Lock()

    def session(offset: int) -> None:
        i = 0
        while not until(i):
            q = questions[(offset + i) % len(questions)]
            i += 1
            t0 = time.perf_counter()
            try:
                engine.ask(q)
            except QuestionError:
                continue
            with lock:
                times.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=session, args=(s * len(questions) // SESSIONS,)) for s in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def _during(engine: Any, questions: list[str], build: Callable[[], Any], log: Log, label: str) -> dict[str, Any]:
    done = threading.Event()
    box: dict[str, Any] = {}

    def rebuild() -> None:
        t0 = time.perf_counter()
        try:
            box["report"] = build()
        except Exception as exc:  # reported in the figures, not raised: the bench goes on
            box["error"] = f"{type(exc).__name__}: {exc}"
        box["s"] = round(time.perf_counter() - t0, 1)
        done.set()

    log(f"rebuild ({label}) with {SESSIONS} sessions asking")
    builder = threading.Thread(target=rebuild)
    builder.start()
    times = _sessions(engine, questions, lambda _i: done.is_set())
    builder.join()
    out = _percentiles(times) | {"rebuild_s": box.get("s")}
    if "error" in box:
        out["error"] = box["error"]
    log(f"rebuild ({label}): {out}")
    return out


def rebuild_load(index_dir: Path | None, questions: list[str], log: Log) -> dict[str, Any]:
    from peerqa.app.answer.engine import Engine
    from peerqa.app.rebuild_process import THREADS, run_ingest_in_child
    from peerqa.app.runtime import run_ingest

    with tempfile.TemporaryDirectory(prefix="peerqa-bench-rebuild-") as tmp:
        sources, index = Path(tmp) / "sources", Path(tmp) / "index"
        shutil.copytree(SHIPPED_SOURCES, sources)
        settings = Settings(index_dir=index, sources_dir=sources)
        if index_dir is not None:
            shutil.copytree(index_dir, index)  # with its caches: the rebuilds below are as in the app
        else:
            log("building the index for the rebuild-load figures")
            run_ingest(settings, show_progress=False)
        engine = Engine.from_settings(settings)
        for q in questions[:3]:
            engine.ask(q)
        log(f"idle: {SESSIONS} sessions x {IDLE_PER_SESSION} questions")
        idle = _percentiles(_sessions(engine, questions, lambda i: i >= IDLE_PER_SESSION))
        log(f"idle: {idle}")
        in_thread = _during(engine, questions, lambda: run_ingest(settings, rebuild=True, show_progress=False),
                            log, "in a thread of this process, as before")
        in_process = _during(engine, questions, lambda: run_ingest_in_child(settings, rebuild=True), log,
                             f"in a child process, nice +10, {THREADS} thread(s)")

    def ratio(r: dict[str, Any]) -> float | None:
        return round(r["p95_ms"] / idle["p95_ms"], 2) if r["p95_ms"] and idle["p95_ms"] else None

    return {"sessions": SESSIONS, "idle": idle, "rebuild_in_thread": in_thread, "rebuild_in_process": in_process,
            "p95_ratio": {"in_thread": ratio(in_thread), "in_process": ratio(in_process)},
            "target_p95_ratio": TARGET_RATIO}


def format_rebuild_load(r: dict[str, Any]) -> str:
    def row(name: str, f: dict[str, Any], ratio: float | None = None) -> str:
        extra = f", rebuild {f['rebuild_s']} s" if "rebuild_s" in f else ""
        extra += f", p95 {ratio}x idle" if ratio is not None else ""
        extra += f", error: {f['error']}" if "error" in f else ""
        return f"{name:<20}  p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, max {f['max_ms']} ms ({f['n']} answers{extra})"

    met = r["p95_ratio"]["in_process"] is not None and r["p95_ratio"]["in_process"] <= r["target_p95_ratio"]
    return "\n".join([
        row("idle", r["idle"]),
        row("rebuild in thread", r["rebuild_in_thread"], r["p95_ratio"]["in_thread"]),
        row("rebuild in process", r["rebuild_in_process"], r["p95_ratio"]["in_process"]),
        f"target: p95 during a rebuild within {r['target_p95_ratio']}x of idle: {'met' if met else 'missed'}",
    ])
