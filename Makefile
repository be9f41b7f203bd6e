# The two quick-start commands are `make demo` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench venv lock clean

venv: $(STAMP)

# Installs the exact versions in requirements.lock (what CI ran), then gladdesk itself.
# Re-install only when pyproject.toml or the lock changed (or the venv is missing).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Refresh the lock after changing dependencies in pyproject.toml: resolves '.[dev]' afresh
# in a scratch venv and writes what got installed.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# Exact versions \`make\` installs; refresh with \`make lock\` (see Makefile)."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^gladdesk'; } > requirements.lock
	rm -rf .venv-lock

demo: $(STAMP)
	$(BIN)/gladdesk demo

lint: $(STAMP)
	$(BIN)/ruff check core sim cli tui tests bench
	$(BIN)/ruff format --check core sim cli tui tests bench
	$(BIN)/mypy core sim cli tui tests
	$(BIN)/lint-imports

test: lint
	@# pytest exits 5 when it collected nothing: that is a failure, not a pass.
	@# Four workers, each taking whole test files (module fixtures start once): many tests
	@# wait on PostgreSQL, servers and terminals rather than compute, so two per core keep
	@# both cores busy (2 cores: 9 min 44 s with two workers, 6 min 44 s with four).
	$(BIN)/python -m pytest -q -n 4 --dist loadfile $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no tests" >&2; exit 1; fi; exit $$status

# The inner loop: unit tests of core, sim and cli (no Textual screens, no e2e processes).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e and not slow" tests/unit

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-lock .pytest_cache .mypy_cache .ruff_cache
