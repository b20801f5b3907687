"""The PostgreSQL store's pure parts: URL handling, SQL filters, migrations, eval system names."""

from __future__ import annotations

import pytest

from peerqa.eval.systems import STORE_SYSTEM, SYSTEM_NAMES, EvalError, parse_systems, store_engine
from peerqa.index.pg_schema import MIGRATIONS, SCHEMA_VERSION
from peerqa.index.pg_search import chunk_where, vector_literal
from peerqa.index.store_backend import check_store_url, is_postgres_url, redact_url, uses_postgres
from peerqa.settings import Settings

pytestmark = pytest.mark.unit


def test_urls_are_recognised_and_passwords_never_shown():
    assert is_postgres_url("postgresql://u:p@h/db") and is_postgres_url("postgres://h/db")
    assert not is_postgres_url("/data/index") and not is_postgres_url("mysql://h/db")
    assert redact_url("postgresql://peer:s3cret@db.example:5432/peerqa") == "postgresql://peer:***@db.example:5432/peerqa"
    assert redact_url("postgresql:///peerqa?host=/run&password=s3cret") == "postgresql:///peerqa?host=/run&password=***"
    assert redact_url("postgresql://peer@db/peerqa") == "postgresql://peer@db/peerqa"
    with pytest.raises(ValueError, match="must be a postgresql:// URL") as info:
        check_store_url("mysql://root:hunter2@db/x")
    assert "hunter2" not in str(info.value)
    check_store_url("")  # the folder store


def test_store_url_setting_selects_the_backend_and_is_not_in_repr(monkeypatch):
    monkeypatch.setenv("PEERQA_STORE_URL", "postgresql://peer:s3cret@db/peerqa")
    monkeypatch.setenv("PEERQA_PG__EF_SEARCH", "200")
    settings = Settings()
    assert uses_postgres(settings) and settings.pg.ef_search == 200
    assert "s3cret" not in repr(settings)
    assert settings.index_hash() == Settings(store_url="").index_hash()  # where it lives is not what it is
    assert not uses_postgres(Settings(store_url=""))


def test_filters_become_a_parameterised_where_clause():
    class F:
        section, source, kind = "Findings › Forensic ", "abc123", "review"

    where, params = chunk_where(7, F())
    assert where.startswith("version_id = 7 AND ")
    assert where.count("%s") == len(params) == 6
    assert params == ["Findings › Forensic", " › ", "Findings › Forensic › ", "abc123", "abc123", "review"]
    assert chunk_where(7, None) == ("version_id = 7", [])
    assert "'" not in where  # values are parameters, never spliced in


def test_vector_literal_round_trips_float32():
    import numpy as np

    v = np.asarray([0.1, -0.25, 1 / 3], dtype="float32")
    parsed = np.asarray(vector_literal(v).strip("[]").split(","), dtype="float32")
    assert np.array_equal(parsed, v)


def test_migrations_are_numbered_in_order_and_create_the_schema_table_first():
    numbers = [n for n, _what, _sql in MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1)) and SCHEMA_VERSION == numbers[-1]
    first = " ".join(MIGRATIONS[0][2])
    assert "CREATE EXTENSION IF NOT EXISTS vector" in first and "peerqa_schema" in first


def test_eval_runs_the_database_system_only_when_named():
    assert STORE_SYSTEM not in parse_systems("")
    assert parse_systems("full-postgres,full") == ["full", STORE_SYSTEM]
    with pytest.raises(EvalError, match="choose from .*full-postgres"):
        parse_systems("nonsense")
    assert STORE_SYSTEM not in SYSTEM_NAMES
    with pytest.raises(EvalError, match="give --store postgresql://"):
        store_engine(Settings(store_url=""), embedder=None)  # type: ignore[arg-type]


def test_a_store_that_is_not_postgresql_is_a_usage_error(capsys):
    from peerqa.app.cli import main

    assert main(["index-info", "--store", "mysql://root:hunter2@db/x"]) == 2
    err = capsys.readouterr().err
    assert "must be a postgresql:// URL" in err and "hunter2" not in err
    assert main(["store", "copy", "--from", "a", "--to", "b"]) == 2
    assert "not folder to folder" in capsys.readouterr().err
