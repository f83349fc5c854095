# Python 3.13, the version of the Lambda runtime (python3.13), found once: `python3.13` on PATH (a pyenv shim
# that has not been selected fails, so each candidate is run, not just looked up), then pyenv's installs, then
# `python3` if it is 3.13. `make PY=/path/to/python3.13` overrides the search.
ifeq ($(origin PY),undefined)
PY := $(shell for c in python3.13 "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.13*/bin/python3.13 python3; do \
	"$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { echo "$$c"; break; }; \
	done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NEED_PY := Python 3.13 is needed (the version of the Lambda runtime) and none was found: tried python3.13, \
	$$PYENV_ROOT/versions/3.13*/bin/python3.13 (PYENV_ROOT defaults to ~/.pyenv) and python3. \
	Install Python 3.13 (for example: pyenv install 3.13) or run make PY=/path/to/python3.13

.PHONY: run serve test test-ddblocal lint format bench package rehearse clean

# A .venv built with another Python is rebuilt, whatever its stamp says.
ifneq ($(shell $(BIN)/python -c 'import sys; print(sys.version_info[:2] == (3, 13))' 2>/dev/null),True)
.PHONY: $(STAMP)
endif

# The venv is rebuilt only when a requirements file changes (or it is not Python 3.13).
$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PY)" || { echo 'error: $(NEED_PY)' >&2; exit 1; }
	@"$(PY)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "error: $(PY) is not Python 3.13" >&2; exit 1; }
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null || { rm -rf $(VENV) && "$(PY)" -m venv $(VENV); }
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

# The integration suite again with DynamoDB on Amazon's DynamoDB Local (the real engine's local edition), the rest on
# moto. It ships in the npm package amplify-dynamodb-simulator (emulator/DynamoDBLocal.jar, run with Java); the
# package is fetched once into build/ with npm's own client. Without npm or Java the run is skipped, saying why.
DDB_LOCAL_PACKAGE := amplify-dynamodb-simulator@2.9.30
DDB_LOCAL_DIR := build/ddblocal
DDB_LOCAL_JAR := $(DDB_LOCAL_DIR)/package/emulator/DynamoDBLocal.jar

$(DDB_LOCAL_JAR):
	@command -v npm >/dev/null || { echo "warning: npm is missing; DynamoDB Local cannot be installed" >&2; exit 0; }
	@mkdir -p $(DDB_LOCAL_DIR)
	@cd $(DDB_LOCAL_DIR) && rm -f *.tgz && npm pack --silent $(DDB_LOCAL_PACKAGE) >/dev/null && tar xzf *.tgz package/emulator

test-ddblocal: $(STAMP) $(DDB_LOCAL_JAR)
	@HAOPING_DDB_LOCAL=$(CURDIR)/$(DDB_LOCAL_DIR)/package/emulator $(BIN)/python -m pytest tests/integration $(ARGS)

bench: $(STAMP)
	@$(BIN)/python -m bench.run $(ARGS)

package: $(STAMP)
	@$(BIN)/python -m deploy.package $(ARGS)

rehearse: $(STAMP)
	@$(BIN)/python -m deploy.rehearse $(ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
