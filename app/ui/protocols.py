"""What the pages need from an engine and an index, as structural types.

`app.answer.engine.Engine` and `index.store.LoadedIndex` satisfy these; the unit tests pass small stubs
instead, so the pages run in AppTest without loading a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from peerqa.app.answer.engine import Filters, Turn
from peerqa.records import Answer, SourceDoc


class IndexView(Protocol):
    # Read-only properties: a plain attribute of a narrower type (dict for Mapping) still fits.
    @property
    def version(self) -> str: ...
    @property
    def manifest(self) -> dict[str, Any]: ...
    @property
    def sources(self) -> Mapping[str, SourceDoc]: ...

    def sections(self) -> list[str]: ...


class AnswerEngine(Protocol):
    @property
    def index(self) -> IndexView: ...

    def ask(
        self,
        question: str,
        history: list[Turn] | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        mode: str = "extractive",
        on_chunk: Callable[[str], None] | None = None,
    ) -> Answer: ...
