"""Failure messages in plain words: the cause a maintainer can act on, never an exception's class
name or a backtrace (those go to the log at debug level)."""

from __future__ import annotations

import signal

_MAX_DETAIL = 160


def detail(exc: BaseException) -> str:
    """What an exception says, without its class name, shortened; a plain fallback when it says nothing."""
    if isinstance(exc, KeyError) and exc.args:
        text = f"a required entry {exc.args[0]!r} is missing"
    elif isinstance(exc, MemoryError):
        text = "out of memory"
    elif isinstance(exc, RecursionError):
        text = "the file's objects are nested too deeply"
    else:
        text = " ".join(str(exc).split())
    if not text:
        text = "the file is damaged or uses a feature the reader does not support"
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def unexpected(stage: str, exc: BaseException, memory_mb: int | None = None) -> str:
    """A message for an error nobody anticipated, naming the step it happened in."""
    if isinstance(exc, MemoryError):
        return out_of_memory(memory_mb)
    if isinstance(exc, RecursionError):
        return "could not be read: its objects are nested too deeply"
    return f"could not be read: an unexpected error while {stage} ({detail(exc)})"


def out_of_memory(memory_mb: int | None) -> str:
    limit = f" (the limit is {memory_mb} MB)" if memory_mb else ""
    return f"ran out of memory while being read{limit}"


def time_limit(seconds: float, stage: str = "reading, structuring and chunking") -> str:
    return f"stopped at the time limit of {seconds:.0f} s for one source ({stage} took too long)"


# What a child's stderr says when memory ran out: Rust ("memory allocation of N bytes failed"),
# OpenBLAS ("Memory allocation still failed"), Python, C++, the C library.
_MEMORY_WORDS = ("memory allocation", "memoryerror", "bad_alloc", "cannot allocate memory", "out of memory")


def child_exit(exitcode: int | None, stderr_tail: str, memory_mb: int | None) -> str:
    """Why the parser's child process ended without a result."""
    if any(word in stderr_tail.lower() for word in _MEMORY_WORDS):
        return out_of_memory(memory_mb)
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL":
            return "the reader was stopped by the system (most often for using too much memory)"
        if name == "SIGABRT":
            return "the reader crashed on this file (a library aborted; often memory or a malformed file)"
        if name == "SIGSEGV":
            return "the reader crashed on this file (a library fault on malformed content)"
        if name == "SIGXFSZ":
            return "the reader wrote too much diagnostic output and was stopped"
        return f"the reader was stopped by {name}"
    return f"the reader ended without a result (exit status {exitcode})"
