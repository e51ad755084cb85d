#!/usr/bin/env bash
# Create (or reuse) the isolated environment .venv/ at the repository root from the pinned lock.
# Needs only Python 3.11 and access to the package registries. Idempotent: a stamp keyed on the
# lock and pyproject.toml skips the install when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
"$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
  echo "setup-env: Python 3.11 is required (found $("$py" --version 2>&1))." >&2; exit 1; }
stamp_key=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
stamp=".venv/.installed-$stamp_key"
if [ -f "$stamp" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
echo "setup-env: installing the pinned environment into .venv/ (first run takes a few minutes)" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==24.3.1"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
rm -f .venv/.installed-*
touch "$stamp"
