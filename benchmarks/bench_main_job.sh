#!/usr/bin/env bash
# Wall time and peak memory of the README's main job (FY2025 batch on the city-sized synthetic
# municipality), with the per-step timings the batch records in its manifest.
#   bash benchmarks/bench_main_job.sh [OUT_DIR]     (default: a temporary folder)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$(mktemp -d)}"
cd "$root"
bash scripts/setup-env.sh
/usr/bin/time -f "wall %e s, peak RSS %M KiB" \
  .venv/bin/wellness-research run --fiscal-year 2025 --synthetic city --out "$out" --quiet
.venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1])); print(json.dumps(m['timings_seconds'], indent=2)); print(m['rows'])" "$out/manifest.json"
