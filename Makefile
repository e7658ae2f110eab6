# Two commands do all the set-up on a fresh machine (Python 3.10+ and pip):
#   make report   run every notebook on the embedded offline default (profile demo) and refresh figures/
#   make test     unit tests + every notebook executed with the ci profile (papermill and nbval)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= demo

.PHONY: install report series test lint fix-notebooks bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The report run: the only run that writes the committed figures/ folder.
report: install
	$(PY) -m helpers.series --profile $(PROFILE) --figures-dir figures

# Any profile into build/<profile>/ without touching figures/, e.g. `make series PROFILE=quick`.
series: install
	$(PY) -m helpers.series --profile $(PROFILE)

test: install
	$(PY) tools/nbtools.py check
	$(PY) -m ruff check src tests tools benchmarks
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check src tests tools benchmarks

fix-notebooks: install
	$(PY) tools/nbtools.py fix

bench: install
	$(PY) benchmarks/bench_phantom.py
	$(PY) benchmarks/bench_gan.py

clean:
	rm -rf build
