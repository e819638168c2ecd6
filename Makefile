# README.md's two commands: `make serve` and `make test` (`make demo`: one local pretraining, no service).
.PHONY: setup serve demo test lint

setup: .venv/.installed

.venv/.installed: pyproject.toml scripts/setup.sh
	./scripts/setup.sh
	touch $@

serve: setup
	.venv/bin/abs serve

demo: setup
	.venv/bin/abs data synth data/synth
	.venv/bin/abs run examples/simclr.yaml --out runs/demo-simclr

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check ab_core services api workers cli tests bench
	.venv/bin/mypy ab_core services
