# mentorbot: one virtualenv, pinned by constraints.txt, and the checks CI runs.
# Works on a fresh clone with only python3 (>= 3.11) on PATH.

VENV ?= .venv
PYTHON ?= python3
ARGS ?=
# Test workers: twice the cores of a small CI machine, since most tests wait on subprocesses, HTTP or a database.
TEST_WORKERS ?= 4
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := test
.PHONY: venv run test lint clean distclean

## venv: create $(VENV) if needed; reinstall only when pyproject.toml or constraints.txt changed
venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x "$(BIN)/python" ]; then \
	  $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	    || { echo "mentorbot needs Python >= 3.11; set PYTHON=python3.11 or newer" >&2; exit 1; }; \
	  echo "creating $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -m venv "$(VENV)"; \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch "$(STAMP)"

## run: apply migrations, then start the bot: make run ARGS="shell --as bob"
run: venv
	$(BIN)/mentorbot migrate && $(BIN)/mentorbot $(ARGS)

## lint: style, types and the import arrows
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

## test: lint first (fail fast), then the whole test suite
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

## clean: caches and build leftovers (keeps $(VENV); see distclean)
clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

## distclean: clean, and remove the virtualenv too
distclean: clean
	rm -rf "$(VENV)" *.egg-info
