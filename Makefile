# Two commands do all the set-up on a fresh machine (Python 3.10+ and pip):
#   make report   run every notebook on the embedded offline default (profile demo) into build/demo/
#   make test     unit tests + every notebook executed with the ci profile (papermill and nbval)
# and, offline in seconds:
#   make figures  rebuild the committed real-data report (figures/, README table) from results/
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= demo

.PHONY: install lock report figures series test lint fix-notebooks bench clean

install: $(VENV)/.installed

# Exact versions from requirements.lock (the ones the tests pass with), then this package and its
# extras (dev: tests, lint, keras-hub, jupyterlab) without resolving anything again. Colab's install
# cell uses pyproject's loose lower bounds instead.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e '.[dev]'
	touch $@

# Re-resolve requirements.lock from pyproject.toml (after changing a dependency; needs the index).
lock: install
	$(VENV)/bin/uv pip compile --quiet --universal --python-version 3.10 pyproject.toml --extra dev -o requirements.lock

# The whole series on the embedded offline default (phantoms), into build/demo/ (figures in build/demo/figures).
report: install
	$(PY) -m helpers.series --profile $(PROFILE)

# The committed report: chapter 6 rebuilt from the result tables in results/ (no data, no training).
figures: install
	$(PY) -m helpers.series --profile quick --only 06 --run-dir build/figures --figures-dir figures \
		-p tables_dir $(CURDIR)/results
	$(PY) tools/readme_table.py figures/06_table_1.md figures/06_verdict.md figures/06_seed_ensembles_deep.md \
		figures/06_provenance.md lessons=figures/06_lessons.md README.md
	# the 64-px Kermany run into figures/kermany64, once chapter 6 has exported it (results/kermany64/run.json)
	if [ -f results/kermany64/run.json ]; then \
		$(PY) -m helpers.series --profile kermany64 --only 06 --run-dir build/figures-kermany64 \
			--figures-dir figures/kermany64 -p tables_dir $(CURDIR)/results/kermany64; fi

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
	$(PY) benchmarks/bench_classifiers.py

clean:
	rm -rf build
