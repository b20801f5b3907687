#!/usr/bin/env bash
# All checks: set up, lint, type-check, then the unit, integration and e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Browser tests drive Debian's chromium (Playwright's own browser download does not work here).
if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the browser tests" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy" && .venv/bin/mypy peerqa
echo "== pytest" && .venv/bin/python -m pytest "$@"
# The evaluation gate: the full engine on the curated questions must not fall more than 0.03
# below eval/baseline.json on hit@5 or abstention accuracy.
echo "== eval gate" && .venv/bin/python -m peerqa.eval.gate
