#!/usr/bin/env bash
# The product: set up, build the index from ./sources if there is none, serve on localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/peerqa serve "$@"
