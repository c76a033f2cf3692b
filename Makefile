# The README's commands. `make test` is what CI runs (.ci/run).
.PHONY: setup test lint lab bench

setup:
	./scripts/bootstrap

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: lint
	.venv/bin/python -m pytest -q -ra --durations=30

lab: setup
	.venv/bin/python -m lab

bench: setup
	.venv/bin/python -m bench
