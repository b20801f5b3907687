from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REVIEW_PDF = REPO / "sources" / "peer-support-work-scoping-review-2023.pdf"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def settings_factory(tmp_path: Path):
    from peerqa.settings import Settings

    def make(**kw):
        kw.setdefault("index_dir", tmp_path / "index")
        kw.setdefault("sources_dir", tmp_path / "sources")
        return Settings(**kw)

    return make


@pytest.fixture(scope="session")
def review_index(tmp_path_factory: pytest.TempPathFactory):
    """The shipped review built once with the real model into a session temp dir."""
    from app.runtime import run_ingest
    from peerqa.settings import Settings

    root = tmp_path_factory.mktemp("review")
    sources = root / "sources"
    sources.mkdir()
    shutil.copy(REVIEW_PDF, sources / REVIEW_PDF.name)
    settings = Settings(index_dir=root / "index", sources_dir=sources)
    report = run_ingest(settings, show_progress=False)
    return settings, report
