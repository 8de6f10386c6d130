# Two commands do all set-up on a fresh machine:
#   make lab         create .venv if missing, install the project, open JupyterLab in notebooks/
#                    (as root, as on Colab, Docker or a cloud shell, it passes --allow-root)
#   make test        create .venv if missing, install the project, run ruff, the unit tests (with
#                    the Colab pins check, tests/test_colab_pins.py, and the studio in a real
#                    browser, tests/test_browser.py: skipped, saying how to enable it, without
#                    Debian's chromium) and every notebook under nbval (offline: untrained
#                    weights, fast mode)
#   make studio      the studio alone as a web page (notebooks/app/studio.ipynb served by Voila) on
#                    http://127.0.0.1:8866/ (STUDIO_PORT=...), for a class or a demo
# More tests (CI, .ci/run, runs test and test-colab):
#   make test-colab  .venv-colab holds Colab's pinned versions (../shared/colab/pip-freeze.gpu.txt,
#                    or COLAB_FREEZE=...) on Python 3.13 if this machine has one; installs stylelib
#                    as the setup cell does, fails if that moved a pin, runs every notebook (fast
#                    mode) and the widget tests there
#   make test-floors .venv-floors holds the lowest versions pyproject.toml allows (uv
#                    --resolution lowest-direct); runs ruff and the unit tests there
#   make test-full   every notebook under nbval in full mode (full sizes and steps; untrained
#                    weights, offline): long
# Benchmarks (benchmarks/, write benchmarks/results/; hours, not part of the tests):
#   make bench       the speed suite on the held-out pairs (needs make bench-reference first),
#                    the tutorial race, memory over long runs, where the 1024 px run's
#                    peak memory goes (benchmarks/peak.py), the feed-forward network
#   make bench-quick the speed suite's quick variant (3 pairs, 128 px, first loop; ~15 minutes)
#   make bench-reference  the tutorial loop's 1000 steps at 512 px per pair, kept for make bench
# Also: make nav, make strip, make clean.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The test command's visible switches: untrained weights (no internet here) and the fast mode.
WEIGHTS_ENV := STYLELIB_VGG19_WEIGHTS=random
TEST_ENV := $(WEIGHTS_ENV) STYLELIB_FAST=1
NBVAL := --nbval-lax --nbval-current-env

# Jupyter refuses to start as root unless told to; root is normal on Colab, Docker, cloud shells.
USER_ID ?= $(shell id -u)
LAB_ARGS := $(if $(filter 0,$(USER_ID)),--allow-root)

COLAB_VENV ?= .venv-colab
COLAB_BIN := $(COLAB_VENV)/bin
COLAB_FREEZE ?= ../shared/colab/pip-freeze.gpu.txt
# Colab's Python (3.13) when this machine has it, else python3; or say which: COLAB_PYTHON=...
COLAB_PYTHON ?= $$($(PYTHON) tools/colab_env.py python)
COLAB_TOOL := $(COLAB_BIN)/python tools/colab_env.py --freeze $(COLAB_FREEZE)
COLAB_PIN := --constraint $(COLAB_VENV)/colab-constraints.txt
# The unit tests that exercise ipywidgets: they must pass on Colab's 7.7.1 as well as on 8.
WIDGET_TESTS = $(sort $(wildcard tests/test_widgets.py) $(shell grep -lE "def test_\w*widget" tests/test_*.py))
# ipykernel 6.17's debugger prints a warning about frozen modules at each kernel start.
QUIET_KERNEL := PYDEVD_DISABLE_FILE_VALIDATION=1

FLOORS_VENV ?= .venv-floors
FLOORS_BIN := $(FLOORS_VENV)/bin

PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: lab studio test lint unit notebooks test-colab test-floors test-full bench bench-quick \
	bench-reference nav strip clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/python -m pip install $(PIP_QUIET) -e ".[notebooks,test,studio,browser]"
	touch $@

lab: $(STAMP)
	@echo "JupyterLab starts below: open the http://127.0.0.1:8888/lab?token=... address it prints."
	@echo "Stop it with Ctrl-C twice (or '$(BIN)/jupyter lab stop' from another terminal)."
	cd notebooks && ../$(BIN)/jupyter lab $(LAB_ARGS)

# Voila runs the notebook and shows its outputs only; it needs no --allow-root. No other port:
# the address printed must be the one served.
STUDIO_PORT ?= 8866
studio: $(STAMP)
	@echo "The studio is served below: open http://127.0.0.1:$(STUDIO_PORT)/ in a browser."
	@echo "Stop it with Ctrl-C. Busy port? make studio STUDIO_PORT=8867"
	cd notebooks && ../$(BIN)/voila app/studio.ipynb --no-browser --Voila.ip=127.0.0.1 \
		--port=$(STUDIO_PORT) --Voila.port_retries=0

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two processes (pytest-xdist): much of a test's time is single-threaded (imports, tracing, kernel
# start-up), so a second process keeps both cores busy. --dist loadfile keeps each notebook's cells,
# and each test file's fixtures, in one process. TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: lint
	$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider -rs -n $(TEST_WORKERS) \
		--dist loadfile tests notebooks $(NBVAL)

unit: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider tests

notebooks: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider notebooks $(NBVAL)

# Full mode: what a learner runs, at full sizes and step counts (still untrained weights).
test-full: $(STAMP)
	env -u STYLELIB_FAST $(WEIGHTS_ENV) $(BIN)/python -m pytest -p no:cacheprovider notebooks $(NBVAL)

# Colab's pinned packages (the series' own, and through the constraints everything they need),
# then the test tools, which Colab lacks, with the pins as constraints so they cannot move one.
$(COLAB_VENV)/.installed: tools/colab_env.py $(COLAB_FREEZE)
	rm -rf $(COLAB_VENV)
	"$(COLAB_PYTHON)" -m venv $(COLAB_VENV)
	$(COLAB_TOOL) constraints -o $(COLAB_VENV)/colab-constraints.txt
	$(COLAB_TOOL) series > $(COLAB_VENV)/colab-series.txt
	$(COLAB_BIN)/python -m pip install $(PIP_QUIET) $(COLAB_PIN) pip
	$(COLAB_BIN)/python -m pip install $(PIP_QUIET) $(COLAB_PIN) -r $(COLAB_VENV)/colab-series.txt
	$(COLAB_BIN)/python -m pip install $(PIP_QUIET) $(COLAB_PIN) pytest nbval
	$(COLAB_TOOL) check-installed
	touch $@

$(COLAB_FREEZE):
	@echo "test-colab needs Colab's package list at $@ (or set COLAB_FREEZE=...)" >&2; exit 1

# As the setup cell does on Colab (`%pip install "stylelib @ git+..."`: no constraints), then
# check that nothing Colab pins moved, then the notebooks and the widget tests.
test-colab: $(COLAB_VENV)/.installed
	@$(COLAB_BIN)/python -c "import sys; print('test-colab: Python', sys.version.split()[0])"
	$(COLAB_BIN)/python -m pip install $(PIP_QUIET) .
	$(COLAB_TOOL) check-installed
	$(QUIET_KERNEL) $(TEST_ENV) $(COLAB_BIN)/python -m pytest -p no:cacheprovider notebooks $(NBVAL)
	$(if $(WIDGET_TESTS),$(TEST_ENV) $(COLAB_BIN)/python -m pytest -p no:cacheprovider \
		$(WIDGET_TESTS) -k widget,@echo "test-colab: no widget tests in tests/")

# The lowest versions pyproject.toml declares, for the direct dependencies (and the extras);
# what they need in turn at its newest. uv installs from PyPI.
$(FLOORS_VENV)/.installed: pyproject.toml
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_BIN)/python -m pip install $(PIP_QUIET) uv
	$(FLOORS_BIN)/uv pip install --quiet --python $(FLOORS_BIN)/python \
		--resolution lowest-direct -e ".[notebooks,test]"
	touch $@

test-floors: $(FLOORS_VENV)/.installed
	$(FLOORS_BIN)/uv pip list --python $(FLOORS_BIN)/python | grep -iE \
		'^(tensorflow|numpy|pillow|matplotlib|ipywidgets|scipy|tqdm|threadpoolctl|pytest|nbval|ruff|ipykernel) '
	$(FLOORS_BIN)/ruff check .
	$(FLOORS_BIN)/ruff format --check .
	$(QUIET_KERNEL) $(TEST_ENV) $(FLOORS_BIN)/python -m pytest -p no:cacheprovider tests

# The suite first: it refuses a missing or stale 512 px reference before hours of other work.
bench: $(STAMP)
	$(BIN)/python benchmarks/suite.py --readme README.md
	$(BIN)/python benchmarks/run.py --readme README.md
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/peak.py
	$(BIN)/python benchmarks/feedforward.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/suite.py --quick

bench-reference: $(STAMP)
	$(BIN)/python benchmarks/suite.py --reference

nav: $(STAMP)
	$(BIN)/python tools/notebooks.py nav

strip: $(STAMP)
	$(BIN)/python tools/notebooks.py strip

clean:
	rm -rf $(VENV) $(COLAB_VENV) $(FLOORS_VENV) build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
