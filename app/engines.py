"""Engines shared within a process, one per settings and active index version (the LangChain
retriever builds one per constructor call; loading the index and the answer tables once is the
difference between milliseconds and a second)."""

from __future__ import annotations

import threading
from typing import Any

from peerqa.settings import Settings

_lock = threading.Lock()
_engines: dict[tuple[str, str | None], Any] = {}
KEEP = 4  # engines kept (oldest dropped first)


def shared_engine(settings: Settings) -> Any:
    from peerqa.app.answer.engine import Engine
    from peerqa.index.store_backend import active_version

    key = (settings.model_dump_json() + "|" + settings.store_url, active_version(settings))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = Engine.from_settings(settings)
            _engines[key] = engine
            while len(_engines) > KEEP:
                _engines.pop(next(iter(_engines)))
        return engine
