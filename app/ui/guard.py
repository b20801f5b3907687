"""Friendly errors: a page never shows a traceback; the detail goes to the server log."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import streamlit as st

log = logging.getLogger("peerqa.app")
P = ParamSpec("P")
R = TypeVar("R")

FRIENDLY = (
    "Something went wrong while preparing this page. Please try again; if it keeps happening, "
    "tell the team that runs peerqa (the details are in the server log)."
)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R | None]:
    """Run a page; on an unexpected error log it and show a plain message instead.

    Streamlit's own control flow (st.rerun, st.stop) raises BaseException subclasses, which pass
    through untouched."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.exception("page %s failed", getattr(fn, "__name__", "?"))
            st.error(FRIENDLY, icon=":material/error:")
            return None

    return run


def startup_failed() -> NoReturn:
    """The app could not even start (an import or the settings failed): log why, show the plain
    message and stop this run. Call it from an `except` block."""
    log.exception("the app could not start")
    st.error(FRIENDLY, icon=":material/error:")
    st.stop()
