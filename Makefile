# chainml: `make demo` runs the end-to-end demo, `make test` the whole test suite.
# Both set up what they need (a .venv with chainml and its dev tools, anvil from npm) and
# are idempotent: a second run installs nothing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_OK  := $(VENV)/.python-ok
PY_DEPS := $(VENV)/.installed
NODE_DEPS := node_modules/.installed

.PHONY: install demo test lint bench clean

$(PY_OK):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "chainml needs Python 3.11 or newer; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	touch $@

$(PY_DEPS): pyproject.toml $(PY_OK)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# anvil (the integration tests' node) comes from the npm package @foundry-rs/anvil; its
# native binary is in the platform package, so no install script needs to run.
$(NODE_DEPS): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

install: $(PY_DEPS) $(NODE_DEPS)

demo: $(PY_DEPS)
	$(BIN)/chainml demo

lint: $(PY_DEPS)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/chain_tx.py
	$(BIN)/python benchmarks/log.py
	$(BIN)/python benchmarks/fraud_quality.py
	$(BIN)/python benchmarks/service.py
	$(BIN)/python benchmarks/onchain_inference.py

clean:
	rm -rf $(VENV) node_modules .chainml .pytest_cache .mypy_cache .ruff_cache
