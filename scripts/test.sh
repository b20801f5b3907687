#!/usr/bin/env bash
# All checks: set up, lint, type-check, then the unit, integration and e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy" && .venv/bin/mypy peerqa ingest index app prompts eval
echo "== pytest" && .venv/bin/python -m pytest "$@"
