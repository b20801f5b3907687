"""`peerqa store init|copy|status`: the PostgreSQL store's schema and moving versions in and out.

    peerqa store init   --store postgresql://...      create or upgrade the schema (explicit, never implied)
    peerqa store copy   --from DIR --to postgresql://...   (or --from postgresql://... --to DIR)
    peerqa store status --store postgresql://...      schema version, active version, versions kept
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from peerqa.app.cli_schema import print_json
from peerqa.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("store", help="the PostgreSQL index store: init (schema), copy, status")
    verbs = p.add_subparsers(dest="store_command", required=True)
    q = verbs.add_parser("init", help="create or upgrade the peerqa schema in the database")
    q.add_argument("--store", metavar="URL", help="postgresql://... (default: $PEERQA_STORE_URL)")
    _json(q)
    q = verbs.add_parser("copy", help="copy the active index version between a folder and a database")
    q.add_argument("--from", dest="source", required=True, metavar="DIR|URL",
                   help="an index folder or a postgresql:// URL to copy the active version from (required)")
    q.add_argument("--to", dest="target", required=True, metavar="DIR|URL",
                   help="the other kind: a postgresql:// URL or an index folder (required)")
    _json(q)
    q = verbs.add_parser("status", help="the database's schema version and index versions")
    q.add_argument("--store", metavar="URL", help="postgresql://... (default: $PEERQA_STORE_URL)")
    _json(q)


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the outcome as JSON (default: off, plain text)")


def _db_settings(url: str | None) -> Settings:
    from peerqa.index.store_backend import is_postgres_url

    settings = Settings(**({"store_url": url} if url is not None else {}))  # type: ignore[arg-type]
    if not is_postgres_url(settings.store_url):
        raise ValueError("give the database with --store postgresql://... or PEERQA_STORE_URL")
    return settings


def cmd_store(args: argparse.Namespace) -> int:
    from peerqa.app.cli_schema import fail
    from peerqa.index.store import IndexLoadError

    command = f"store {args.store_command}"
    try:
        return {"init": _init, "copy": _copy, "status": _status}[args.store_command](args)
    except ValueError as exc:
        return fail(args.json, command, str(exc), EXIT_USAGE)
    except IndexLoadError as exc:
        return fail(args.json, command, str(exc), EXIT_FAILED)


def _init(args: argparse.Namespace) -> int:
    from peerqa.index.pg_schema import SCHEMA_VERSION, connect, init_schema
    from peerqa.index.store_backend import redact_url

    settings = _db_settings(args.store)
    conn = connect(settings.store_url, settings.pg.connect_timeout_s, 0, app="peerqa-store-init")
    try:
        applied = init_schema(conn)
    finally:
        conn.close()
    where = redact_url(settings.store_url)
    if args.json:
        print_json({"store": where, "schema_version": SCHEMA_VERSION, "applied": list(applied)})
    elif applied:
        print(f"{where}: applied schema migration(s) {', '.join(map(str, applied))}; schema is version {SCHEMA_VERSION}")
    else:
        print(f"{where}: schema is already version {SCHEMA_VERSION}; nothing to do")
    return EXIT_OK


def _copy(args: argparse.Namespace) -> int:
    from peerqa.index.pg_copy import folder_to_pg, pg_to_folder
    from peerqa.index.store_backend import is_postgres_url, redact_url

    src_db, dst_db = is_postgres_url(args.source), is_postgres_url(args.target)
    if src_db == dst_db:
        raise ValueError("copy goes from a folder to a postgresql:// URL or back, not " +
                         ("database to database" if src_db else "folder to folder"))
    if dst_db:
        target = _db_settings(args.target)
        version = folder_to_pg(Path(args.source).resolve(), target)
        src, dst = args.source, redact_url(args.target)
    else:
        source = _db_settings(args.source)
        version = pg_to_folder(source, Path(args.target).resolve())
        src, dst = redact_url(args.source), args.target
    if args.json:
        print_json({"from": src, "to": dst, "index_version": version})
    else:
        print(f"copied version {version} from {src} to {dst}; it is active there")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from peerqa.index.pg_schema import SCHEMA_VERSION, connect, schema_version
    from peerqa.index.pg_store import read_pg_active, version_names
    from peerqa.index.store_backend import redact_url

    settings = _db_settings(args.store)
    conn = connect(settings.store_url, settings.pg.connect_timeout_s, app="peerqa-store-status")
    try:
        found = schema_version(conn)
    finally:
        conn.close()
    current = found == SCHEMA_VERSION
    active, versions = (read_pg_active(settings), version_names(settings)) if current else (None, [])
    code = EXIT_OK if current else EXIT_FAILED
    if args.json:
        if not current:
            from peerqa.app.cli_schema import fail

            hint = (f"; upgrade it with: peerqa store init --store {redact_url(settings.store_url)}"
                    if found is not None and found < SCHEMA_VERSION else "")
            return fail(True, "store status", f"the database's peerqa schema is {found or 'missing'}, this peerqa "
                        f"needs version {SCHEMA_VERSION}{hint}", code)
        print_json({"store": redact_url(settings.store_url), "schema_version": found,
                    "expected_schema_version": SCHEMA_VERSION, "index_version": active, "versions": versions})
        return code
    print(f"Database       {redact_url(settings.store_url)}")
    print(f"Schema         {'none' if found is None else found} (this peerqa: {SCHEMA_VERSION})")
    if not current:
        return EXIT_FAILED if found is None or found > SCHEMA_VERSION else _upgrade_hint(settings)
    print(f"Active version {active or '(none)'}")
    print("Versions       " + (", ".join(versions) or "(none)"))
    return EXIT_OK


def _upgrade_hint(settings: Settings) -> int:
    from peerqa.index.store_backend import redact_url

    print(f"upgrade the schema with: peerqa store init --store {redact_url(settings.store_url)}", file=sys.stderr)
    return EXIT_FAILED


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"store": cmd_store}
