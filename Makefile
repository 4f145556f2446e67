# Developer entry points; each is a thin wrapper over the scripts CI runs.
.PHONY: setup demo test unit lint bench schema

setup:  ## install Debian packages and the .venv
	bash .ci/setup

demo:  ## the README's main job
	bash .ci/demo

test:  ## everything CI runs: lint, types, all tests
	bash .ci/run

unit:  ## fast tests, no root
	.venv/bin/pytest tests/unit -q

lint:  ## ruff and mypy
	.venv/bin/ruff check stackr tests bench
	.venv/bin/mypy

bench:  ## benchmarks (figures go to bench/results/)
	.venv/bin/python -m bench

schema:  ## regenerate schemas/stack.schema.json from the model
	.venv/bin/python -m stackr.config.schema > schemas/stack.schema.json
