# Two entry points for a fresh machine: `make report` and `make test`.
# Both create the virtual environment and fetch MNIST when missing, and redo neither when present.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REPORT_ARGS ?=

.PHONY: report test data venv smoke clean-smoke

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

data: $(STAMP)
	$(PY) -m vaelib.data --dataset mnist fashion

# The whole report: 10 models x 15 epochs, then notebooks 02-04, figures/ and results/.
report: data
	$(PY) -m vaelib.report $(REPORT_ARGS)

# Unit tests, then every notebook through nbval (smoke configuration, see README).
test: data
	CI=true $(PY) -m pytest -q tests
	CI=true $(PY) -m pytest -q --nbval-lax notebooks
