# The two commands of the README. Both create .venv/ from the pinned lock when needed.
.PHONY: run test test-all demo env lock

FY ?= 2025
SIZE ?= city

env:
	bash scripts/setup-env.sh

## Main job: FY2025 batch on the city-sized synthetic municipality into research/FY2025/.
run: env
	.venv/bin/wellness-research run --fiscal-year $(FY) --synthetic $(SIZE)

## Whole test suite (slow statistical checks included), as CI runs it.
test: env
	.venv/bin/python -m pytest

## Re-render the committed demo (small synthetic municipality) into research/demo/.
demo: env
	rm -rf research/demo
	.venv/bin/wellness-research run --fiscal-year $(FY) --synthetic small --out research/demo --portable

## Regenerate requirements.lock from the current .venv (after changing pyproject.toml).
lock:
	.venv/bin/python -m pip freeze --exclude-editable | grep -v '^wellness.research' > requirements.lock
