# Two commands do all set-up on a machine with python3 and make:
#   make run    the seed's exp example: validation report in build/seed-exp/
#   make test   the test suite
#   make test-adapters   from_torch / from_jax on the real libraries (own venv; CI runs it)
# Each creates or updates the local virtual environment .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Compiled kernels are cached here, so only the first run pays for compilation.  One folder
# per state of mcflow's sources: numba checks only the defining file's time stamp, so a
# kernel cached before an edit to a module it calls (say _binning.py under _kernels.py)
# would otherwise keep running the old code.
MCFLOW_SOURCES_DIGEST := $(shell cat $(sort $(wildcard mcflow/*.py)) | cksum | cut -d' ' -f1)
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache/$(MCFLOW_SOURCES_DIGEST)
# Simulated nulls are kept here too (a pure function of n and the cells; see mcflow/nulls.py).
export MCFLOW_CACHE_DIR ?= $(CURDIR)/.mcflow_cache

ADAPTERS_VENV := .venv-adapters
ADAPTERS_STAMP := $(ADAPTERS_VENV)/.installed-stamp
# torch's CPU wheel, installed before anything asks for `torch`: a bare requirement would
# pull a CUDA build of several GB.
TORCH_CPU ?= torch==2.13.0

.PHONY: run seed-report test test-adapters bench bench-report lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

$(ADAPTERS_STAMP): pyproject.toml
	$(PYTHON) -m venv $(ADAPTERS_VENV)
	$(ADAPTERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ADAPTERS_VENV)/bin/python -m pip install --quiet '$(TORCH_CPU)'
	$(ADAPTERS_VENV)/bin/python -m pip install --quiet -e '.[test,adapters]'
	touch $(ADAPTERS_STAMP)

# The report goes to build/ (ignored by git): timings and dates change on every run, and
# `make run` must not dirty the tree.  `make seed-report` regenerates the committed copy.
run: $(STAMP)
	$(BIN)/mcflow validate exp --n 1e8 --seed 0 --report build/seed-exp

seed-report: $(STAMP)
	$(BIN)/mcflow validate exp --n 1e8 --seed 0 --report reports/seed-exp

# The whole suite, the slow statistical runs included (plain `pytest` skips those).
test: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

# The adapters and the real-library corpus with torch, pyro, zuko, nflows, jax, numpyro,
# distrax and flowjax installed (in `make test` these tests skip without them).
test-adapters: $(ADAPTERS_STAMP)
	$(ADAPTERS_VENV)/bin/python -m pytest -m "slow or not slow" -p no:cacheprovider \
		tests/test_adapters.py tests/test_real_libraries.py tests/test_readme_adapters.py \
		tests/test_nd_adapters.py

bench: $(STAMP)
	$(BIN)/python -m pytest bench --benchmark-only --benchmark-columns=min,median,ops

# Regenerates reports/bench/ (JSON, plot, and the Markdown table generated from the JSON).
bench-report: $(STAMP)
	$(BIN)/mcflow bench --n 1e8 --repeat 5 --json reports/bench/results.json \
		--plot reports/bench/throughput.png --markdown reports/bench/README.md

lint: $(STAMP)
	$(BIN)/ruff check mcflow tests bench

# The documentation site, from the docstrings, with warnings as errors (`make test` builds it
# too, in tests/test_docs.py): open docs/_build/html/index.html.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -n -b html docs docs/_build/html

clean:
	rm -rf $(VENV) $(ADAPTERS_VENV) .numba_cache .mcflow_cache .pytest_cache .benchmarks docs/_build
