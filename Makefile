# The two commands of README.md: `make demo` and `make test`.
.PHONY: setup demo test lint bench

setup: .venv/.installed

.venv/.installed: pyproject.toml scripts/setup.sh
	./scripts/setup.sh
	touch $@

demo: setup
	.venv/bin/abs data synth data/synth
	.venv/bin/abs run examples/simclr.yaml --out runs/demo-simclr

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check ab_core services api workers cli tests bench
	.venv/bin/mypy ab_core services
