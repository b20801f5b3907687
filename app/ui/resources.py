"""Process-wide resources shared by every browser session (st.cache_resource).

The engine is cached per (index folder, ACTIVE version): each page run reads ACTIVE, so after a
rebuild switches it the next run loads the new index while earlier runs finish on the old one.
The model itself is loaded once per process by app.runtime.get_embedder, whatever the version.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from peerqa.app.answer.engine import Engine
from peerqa.app.feedback import FeedbackStore, default_path
from peerqa.app.ui.rebuild import RebuildJob
from peerqa.index.store_backend import active_version
from peerqa.settings import Settings

LOADING = "Loading the evidence index and the language model (first visit after a start or a rebuild)…"


# Two entries: the version being served and the one just built, so a switch never thrashes.
@st.cache_resource(max_entries=2, show_spinner=LOADING)
def _engine(index_dir: str, version: str, _settings: Settings) -> Engine:
    return Engine.from_settings(_settings)


def current_engine(settings: Settings) -> Engine | None:
    """The engine for the active index version; None when no index has been built yet.

    Raises index.store.IndexLoadError when the index cannot be served (its message says why)."""
    version = active_version(settings)  # a file, or one row when the index is in PostgreSQL
    if version is None:
        return None
    return _engine(settings.store_url or str(settings.index_dir.resolve()), version, settings)


@st.cache_resource
def _job(index_dir: str, _settings: Settings) -> RebuildJob:
    return RebuildJob(_settings)


def rebuild_job(settings: Settings) -> RebuildJob:
    return _job(str(settings.index_dir.resolve()), settings)


@st.cache_resource
def _store(path: str) -> FeedbackStore:
    return FeedbackStore(Path(path))


def feedback_store(settings: Settings) -> FeedbackStore:
    return _store(str(default_path(settings)))
