"""CLI commands that answer questions (filled in by the answer engine)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

ANSWER_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {}


def add_answer_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    return None
