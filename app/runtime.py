"""Process-wide resources, loaded once and explicitly: the embedder and the index.

Also the ingest entry point (with a build lock and progress bars) and `serve`.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from peerqa.index.builder import Progress, build_index
from peerqa.index.embedder import SentenceTransformerEmbedder
from peerqa.index.store import IndexLoadError, LoadedIndex
from peerqa.index.store_backend import active_version, open_store, store_label, uses_postgres
from peerqa.records import IngestReport
from peerqa.settings import SHIPPED_SOURCES, Settings

_lock = threading.Lock()
_embedders: dict[str, SentenceTransformerEmbedder] = {}


def get_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    key = settings.model.model_dump_json()
    with _lock:
        if key not in _embedders:
            _embedders[key] = SentenceTransformerEmbedder(settings.model)
        return _embedders[key]


def expectations(settings: Settings, dim: int | None = None) -> dict[str, object]:
    return {"model": settings.model.name, "dim": dim, "settings_hash": settings.index_hash()}


def open_index(settings: Settings, check_settings: bool = True) -> LoadedIndex:
    """Load the active index (no model needed) from the folder or the database (`store_url`);
    refuse one built with other settings."""
    expect = expectations(settings) if check_settings else None
    return open_store(settings, expect)


class BuildBusyError(RuntimeError):
    """Another process (or thread) is building this index folder."""


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildBusyError(f"another build is running on {index_dir}; try again when it ends") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def wait_for_build(index_dir: Path, poll_s: float = 1.0, say_every_s: float = 30.0) -> None:
    """Return once no build holds the lock of this index folder (polls, so Ctrl-C works)."""
    said = time.monotonic()
    while True:
        with (index_dir / ".lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                pass
        if time.monotonic() - said > say_every_s:
            print("peerqa: still waiting for the other build to finish...", file=sys.stderr)
            said = time.monotonic()
        time.sleep(poll_s)


def _tqdm_progress() -> tuple[Progress, object]:
    from tqdm import tqdm

    bar = tqdm(total=100, desc="ingest", unit="%", file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    last: dict[str, Any] = {"pct": -1, "msg": ""}

    def update(message: str, fraction: float) -> None:
        pct = int(100 * min(1.0, fraction))
        stage = message.split(" (")[0]
        # Redraw on a new stage or every 5%, so logs (not a terminal) stay short.
        if stage == last["msg"] and pct - int(last["pct"]) < 5:
            return
        last["pct"], last["msg"] = pct, stage
        bar.n = pct
        bar.set_postfix_str(message[:60])
        bar.refresh()

    return update, bar


def seed_sources(settings: Settings) -> bool:
    """A first run in a folder with no sources folder: put the shipped review there (a copy of the
    package data), so `peerqa ingest` or `peerqa serve` in any folder has something to index.
    True when it did."""
    import shutil

    if settings.sources_dir.exists() or not SHIPPED_SOURCES.is_dir():
        return False
    settings.sources_dir.mkdir(parents=True)
    for pdf in sorted(SHIPPED_SOURCES.glob("*.pdf")):
        shutil.copy2(pdf, settings.sources_dir / pdf.name)
    print(f"peerqa: no sources folder yet; put the shipped review in {settings.sources_dir}", file=sys.stderr)
    return True


def run_ingest(
    settings: Settings,
    paths: list[Path] | None = None,
    rebuild: bool = False,
    show_progress: bool = True,
    progress: Progress | None = None,
) -> IngestReport:
    bar = None
    if progress is None and show_progress:
        progress, bar = _tqdm_progress()
    # With a database store, index_dir is the build's work folder; the advisory lock makes builds
    # on every machine take turns, and the built version is published in one transaction.
    pg = uses_postgres(settings)
    if pg:
        from peerqa.index.pg_store import pg_build_lock, publish_folder
    with pg_build_lock(settings) if pg else nullcontext(), build_lock(settings.index_dir):
        embedder = get_embedder(settings)
        kwargs = {"progress": progress} if progress else {}
        try:
            report = build_index(settings, embedder, paths, rebuild=rebuild, **kwargs)  # type: ignore[arg-type]
            if pg:
                (progress or _no_progress)("Publishing to the database", 0.97)
                publish_folder(settings, settings.index_dir / report.index_version)
            return report
        finally:
            if bar is not None:
                bar.close()  # type: ignore[attr-defined]


def _no_progress(_msg: str, _frac: float) -> None:
    return None


def ensure_index(settings: Settings) -> None:
    """Build the index from the sources folder when there is none (first run). When another
    process is building it (a first `peerqa ingest`, or the app's rebuild), wait for that build
    and serve what it made."""
    while True:
        try:
            open_index(settings)
            return
        except IndexLoadError as exc:
            if active_version(settings) is not None and "rebuild" not in str(exc):
                raise
        seed_sources(settings)
        try:
            print(f"peerqa: building the index in {store_label(settings)} from {settings.sources_dir} "
                  "(first run, about a minute)...", file=sys.stderr)
            report = run_ingest(settings)
        except BuildBusyError:
            print(f"peerqa: another build of {settings.index_dir} is running; waiting for it to finish "
                  "(Ctrl-C to stop)...", file=sys.stderr)
            wait_for_build(settings.index_dir)
            continue
        print(f"peerqa: index {report.index_version} ready with {report.chunks_total} chunks", file=sys.stderr)
        return


def streamlit_command(page: Path, port: int = 8501, address: str = "127.0.0.1") -> list[str]:
    """`streamlit run` with the app's safety flags (also used by the browser tests)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(page),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.enableXsrfProtection", "true",
        "--server.maxUploadSize", "50",
        "--browser.gatherUsageStats", "false",
        # "none": no message, type or trace. Streamlit reads the older "false" as "stacktrace".
        "--client.showErrorDetails", "none",
        "--client.showErrorLinks", "false",  # no "Ask Google/ChatGPT" links on an error (shown on localhost)
        "--client.toolbarMode", "minimal",
    ]


STOP_GRACE_S = 15.0  # how long the child may take to stop before it is killed


def run_child(cmd: list[str], env: dict[str, str]) -> int:
    """Run the server child; SIGTERM, SIGINT and SIGHUP to this process are passed on to it, and
    this process exits when it does (killing it if it has not stopped within STOP_GRACE_S)."""
    proc = subprocess.Popen(cmd, env=env)
    stop_asked: list[float] = []

    def forward(signum: int, _frame: object) -> None:
        stop_asked.append(time.monotonic())
        if proc.poll() is None:
            proc.send_signal(signum)

    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in signals}
    try:
        while True:
            try:
                return proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if stop_asked and time.monotonic() - stop_asked[0] > STOP_GRACE_S:
                    proc.kill()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:  # this process is leaving for another reason: never leave the child behind
            proc.kill()
            proc.wait()


def serve(settings: Settings, port: int = 8501, address: str = "127.0.0.1", as_json: bool = False) -> int:
    from peerqa.app.cli_schema import fail, print_json
    from peerqa.index.builder import BuildError

    try:
        ensure_index(settings)
    except KeyboardInterrupt:
        return fail(as_json, "serve", "stopped before serving", 130)
    except BuildError as exc:
        return fail(as_json, "serve", f"no index could be built: {exc}", 1)
    if as_json:
        print_json({"url": f"http://{address}:{port}/", "index_dir": store_label(settings),
                    "index_version": active_version(settings)}, lines=True)
    page = Path(__file__).with_name("streamlit_app.py")
    env = dict(os.environ, PEERQA_INDEX_DIR=str(settings.index_dir), PEERQA_SOURCES_DIR=str(settings.sources_dir),
               PEERQA_HOME=str(settings.home), HF_HUB_OFFLINE="1")
    if settings.store_url:
        env["PEERQA_STORE_URL"] = settings.store_url
    print(f"peerqa: serving on http://{address}:{port}", file=sys.stderr)
    return run_child(streamlit_command(page, port, address), env)
