"""Process-wide resources, loaded once and explicitly: the embedder and the index.

Also the ingest entry point (with a build lock and progress bars) and `serve`.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from index.builder import Progress, build_index
from index.embedder import SentenceTransformerEmbedder
from index.store import IndexLoadError, LoadedIndex, load_index, read_active
from peerqa.records import IngestReport
from peerqa.settings import Settings

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
    """Load the active index (no model needed); refuse one built with other settings."""
    expect = expectations(settings) if check_settings else None
    return load_index(settings.index_dir, expect)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another build is running on {index_dir}; try again when it ends") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
    with build_lock(settings.index_dir):
        embedder = get_embedder(settings)
        kwargs = {"progress": progress} if progress else {}
        try:
            return build_index(settings, embedder, paths, rebuild=rebuild, **kwargs)  # type: ignore[arg-type]
        finally:
            if bar is not None:
                bar.close()  # type: ignore[attr-defined]


def ensure_index(settings: Settings) -> None:
    """Build the index from the sources folder when there is none (first run)."""
    try:
        open_index(settings)
        return
    except IndexLoadError as exc:
        if read_active(settings.index_dir) is not None and "rebuild" not in str(exc):
            raise
        print(f"peerqa: building the index from {settings.sources_dir} (first run, about a minute)...", file=sys.stderr)
    report = run_ingest(settings)
    print(f"peerqa: index {report.index_version} ready with {report.chunks_total} chunks", file=sys.stderr)


def serve(settings: Settings, port: int = 8501, address: str = "127.0.0.1") -> int:
    ensure_index(settings)
    page = Path(__file__).with_name("streamlit_app.py")
    env = dict(os.environ, PEERQA_INDEX_DIR=str(settings.index_dir), HF_HUB_OFFLINE="1")
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(page),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.enableXsrfProtection", "true",
        "--server.maxUploadSize", "50",
        "--browser.gatherUsageStats", "false",
        # "none": no message, type or trace. Streamlit reads the older "false" as "stacktrace".
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "minimal",
    ]
    print(f"peerqa: serving on http://{address}:{port}", file=sys.stderr)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
