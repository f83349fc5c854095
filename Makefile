PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run serve test lint format bench package clean

# The venv is rebuilt only when a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m sandbox.run $(ARGS)

serve: $(STAMP)
	@$(BIN)/python -m sandbox.run --serve $(ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: $(STAMP)
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

test: lint
	@$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)
	@$(BIN)/python -m bench.run $(ARGS)

package: $(STAMP)
	@$(BIN)/python -m bench.package $(ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
