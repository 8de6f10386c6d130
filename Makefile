# Two commands do all set-up on a fresh machine:
#   make lab    create .venv if missing, install the project, open JupyterLab in notebooks/
#   make test   create .venv if missing, install the project, run ruff, the unit tests and
#               every notebook under nbval (offline: untrained weights, fast mode)
# Also: make bench (benchmarks/, writes benchmarks/results/), make nav, make strip, make clean.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The test command's visible switches: untrained weights (no internet here) and the fast mode.
TEST_ENV := STYLELIB_VGG19_WEIGHTS=random STYLELIB_FAST=1

.PHONY: lab test lint unit notebooks bench nav strip clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[notebooks,test]"
	touch $@

lab: $(STAMP)
	cd notebooks && ../$(BIN)/jupyter lab

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider tests notebooks \
		--nbval-lax --nbval-current-env

unit: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider tests

notebooks: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider notebooks --nbval-lax --nbval-current-env

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --readme README.md

nav: $(STAMP)
	$(BIN)/python tools/notebooks.py nav

strip: $(STAMP)
	$(BIN)/python tools/notebooks.py strip

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
