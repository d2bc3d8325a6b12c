# Everything behind the README's commands. Works on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv browser test lint demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench,notebook]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ionpy)" >/dev/null
	touch $(STAMP)

## Debian's Chromium for the JupyterLab end-to-end tests (never `playwright install`: it downloads).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; fi

## The README's test command: install everything, lint, run the whole suite.
test: venv browser
	$(VENV)/bin/ruff check ionpy_widgets tests benchmarks
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check ionpy_widgets tests benchmarks

## The README's demo command: JupyterLab on the quickstart notebook with simulated instruments.
demo: venv
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb

bench: venv
	$(PY) benchmarks/bench_modbus_poll.py
	$(PY) benchmarks/bench_history.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
