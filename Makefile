# Two entry points for a fresh machine: `make report` and `make test`.
# Both create the virtual environment and fetch MNIST when missing, and redo neither when present.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REPORT_ARGS ?=
REFERENCE_ARGS ?=

.PHONY: report reference test test-fast data venv browser lab test-browser site

venv: $(STAMP)

# The installed packages are byte-compiled once, in parallel: where PYTHONDONTWRITEBYTECODE is set (as on these
# machines) every process would otherwise compile torch from source (python -m benchmarks.imports).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --no-compile -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	$(PY) -m compileall -q -j 0 -x 'py312_intrinsics' $(VENV)/lib
	touch $(STAMP)

data: $(STAMP)
	$(PY) -m vaelib.data --dataset mnist fashion

# The whole report: 10 models x 10 seeds x 15 epochs and the extras, their evaluation, notebooks 02-05, REPORT.md, site/
report: data
	$(PY) -m vaelib.pipeline.report $(REPORT_ARGS)

# The report as a page that opens from disk (site/index.html, explorers included) from REPORT.md and runs/;
# `make report` ends with it. `python -m vaelib.site --check` (in `make test`) needs no runs.
site: $(STAMP)
	$(PY) -m vaelib.site

# Debian's chromium and its driver, for the browser test (no browser is downloaded at run time).
# Burda et al.'s VAE on binarized MNIST by the authors' protocol against the paper's 86.76 nats (hours; resumable; see README).
reference: data
	$(PY) -m vaelib.pipeline.reference $(REFERENCE_ARGS)

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q chromium chromium-driver

# Explore the notebooks (widgets included) in JupyterLab.
lab: data
	$(PY) -m jupyter lab notebooks/

# Notebook 03 in a real JupyterLab and headless Chromium; screenshots in screenshots/.
test-browser: data browser
	CI=true $(PY) -m pytest -q tests/test_browser.py

# The quick tests (no browser, no apt-get, no notebooks): ruff, the floors and the unit tests, leaving out the tests
# marked slow (a minute or more) and the files that start real services or browsers, picked by the durations
# `make test` measured (.ci/run, 2026-12-06: 1,070 s for tests/): test_browser.py and test_site.py (Chromium),
# test_cluster.py (a dask scheduler and workers, 35-116 s), test_interrupted_report.py (66 s), test_faults.py
# (real faults, 11-40 s each). About 290 s of that run's 1,070 s; the rest is `make test` (docs/testing.md).
test-fast: data
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q --durations=10 -m "not slow" --ignore=tests/test_browser.py --ignore=tests/test_site.py \
	  --ignore=tests/test_cluster.py --ignore=tests/test_interrupted_report.py --ignore=tests/test_faults.py tests

# Is REPORT.md what results/ gives, the site what REPORT.md and results/ give? Do vaelib's floors import only downwards? Is ruff clean? Then the unit tests, then every notebook through nbval
# (smoke configuration, in a fresh folder each time, see README).
test: data browser
	$(PY) -m vaelib.writeup --check
	$(PY) -m vaelib.site --check
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	CI=true $(PY) -m pytest -q --durations=25 tests
	smoke=$$(mktemp -d) && CI=true VAELIB_SMOKE_ROOT=$$smoke $(PY) -m pytest -q --nbval-lax notebooks; \
	  status=$$?; rm -rf "$$smoke"; exit $$status
