# The two commands of the README: `make demo` (the whole line) and `make test` (the suite).
# Both bootstrap what they need; re-running reuses what was built.

VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bootstrap schemas clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@bash scripts/demo.sh

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# one worker per core; a file's tests stay together (module fixtures, e.g. the wheels, built once)
test: lint
	$(BIN)/python -m pytest -n auto --dist loadfile

schemas: bootstrap
	$(BIN)/python -m lepton.edge.json_schemas

clean:
	rm -rf build
