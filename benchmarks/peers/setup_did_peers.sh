#!/usr/bin/env bash
# Creates the SEPARATE difference-in-differences peer venv .venv-did-peers/ at the repository root
# (git-ignored): csdid, diff-diff, moderndid, honestdid, wildboottest, pyfixest as oracles.
# Usage (from anywhere):  bash benchmarks/peers/setup_did_peers.sh
# The core environment (.venv/, requirements.lock) is not touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3.11 -m venv .venv-did-peers
.venv-did-peers/bin/pip install --upgrade pip
# honestdid needs torch: install the CPU build FIRST (a wheel of torch 2.13.0+cpu lies on this
# machine's disk); a plain `torch` requirement would pull a multi-GB CUDA build.
.venv-did-peers/bin/pip install torch==2.13.0
# Fully resolved pins (pip freeze), installed as given.
.venv-did-peers/bin/pip install --no-deps -r benchmarks/peers/requirements-did-peers.txt
# Our package, without the core lock's pins (the peers need pandas 3 / scipy 1.17 here).
.venv-did-peers/bin/pip install --no-deps -e .
.venv-did-peers/bin/pip check
.venv-did-peers/bin/python -c "import csdid, diff_diff, moderndid, honestdid, wildboottest, pyfixest, causaldata; print('did peers venv ready')"
