"""The app's index rebuild in a separate process, at lower CPU priority and with few threads.

Run in a thread of the server, a rebuild shares the interpreter (its lock) and every core with the
questions being answered: on two cores answers took 23-35 s instead of well under one. In a child
process it has its own interpreter; `nice` and a bounded thread count (torch, OpenMP, BLAS) leave
the cores to the questions first. The child reports progress and the result as JSON lines on
stdout; its log goes to the server's stderr.

    report = run_ingest_in_child(settings, rebuild=True, progress=callback)   # same as run_ingest
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerqa.records import IngestReport
from peerqa.settings import Settings

NICE = 10  # added to the child's niceness: the scheduler favours the server's answers
THREADS = max(1, (os.cpu_count() or 2) // 2)  # for torch, OpenMP (FAISS) and BLAS in the child
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS")
Progress = Callable[[str, float], None]


class RebuildProcessError(RuntimeError):
    """The rebuild process ended without a report (it crashed or was killed)."""


def child_env(threads: int = THREADS) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update({name: str(threads) for name in _THREAD_VARS})
    return env


def run_ingest_in_child(
    settings: Settings,
    paths: list[Path] | None = None,
    rebuild: bool = False,
    show_progress: bool = False,
    progress: Progress | None = None,
    nice: int = NICE,
    threads: int = THREADS,
) -> IngestReport:
    """run_ingest in a child process; raises what run_ingest would (BuildError, BuildBusyError)."""
    from peerqa.app.runtime import BuildBusyError
    from peerqa.index.builder import BuildError

    cmd = [sys.executable, "-m", "peerqa.app.rebuild_process", "--nice", str(nice), "--threads", str(threads)]
    cmd += ["--rebuild"] if rebuild else []
    cmd += [str(p) for p in paths or []]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                            env=child_env(threads))
    assert proc.stdin is not None and proc.stdout is not None
    # The settings go as JSON on stdin: the child builds exactly what this process would.
    proc.stdin.write(settings.model_dump_json())
    proc.stdin.close()
    result: dict[str, Any] = {}
    try:
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue  # not ours (a library printing to stdout)
            if "progress" in msg and progress is not None:
                progress(str(msg["progress"]), float(msg.get("fraction", 0.0)))
            elif "report" in msg or "error" in msg:
                result = msg
        code = proc.wait()
    finally:
        if proc.poll() is None:  # this thread is leaving early: do not leave a build behind
            proc.kill()
            proc.wait()
    if "report" in result:
        return IngestReport.model_validate(result["report"])
    if result.get("error") == "busy":
        raise BuildBusyError(result.get("message", "another build is running"))
    if result.get("error") == "build":
        raise BuildError(result.get("message", ""))
    raise RebuildProcessError(f"the rebuild process exited with {code} without a report")


_stdout_lock = threading.Lock()  # progress may come from the builder's worker threads


def _send(msg: dict[str, Any]) -> None:
    with _stdout_lock:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m peerqa.app.rebuild_process")
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--nice", type=int, default=NICE)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    os.nice(args.nice)  # also inherited by the per-file parse children
    import torch

    torch.set_num_threads(args.threads)
    from peerqa.app.runtime import BuildBusyError, run_ingest
    from peerqa.index.builder import BuildError

    settings = Settings.model_validate_json(sys.stdin.read())
    try:
        report = run_ingest(settings, [Path(p) for p in args.paths] or None, rebuild=args.rebuild,
                            show_progress=False,
                            progress=lambda message, fraction: _send({"progress": message, "fraction": fraction}))
    except BuildBusyError as exc:
        _send({"error": "busy", "message": str(exc)})
        return 1
    except BuildError as exc:
        _send({"error": "build", "message": str(exc)})
        return 1
    _send({"report": report.model_dump(mode="json")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
