"""What the LLM path and its verification need from a loaded engine, as a protocol, so that
they depend on this module and not on the engine (the engine imports them, never the reverse)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from peerqa.index.embedder import Embedder
from peerqa.index.store import LoadedIndex
from peerqa.settings import Settings


class EngineParts(Protocol):
    settings: Settings
    index: LoadedIndex
    embedder: Embedder
    lock: threading.Lock  # the model is shared; torch inference is not re-entrant on all builds
    row_of: Any  # chunk id -> row (.get): a dict, or the database store's lookup
