# Two commands from a fresh clone: `make run` (the app) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test browser bench assets clean

run: $(STAMP)
	$(PY) -m streamlit run app.py

test: $(DEV_STAMP) browser
	$(PY) -m pytest -q

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Debian's Chromium for the real-browser tests (Playwright cannot download its own browsers here).
browser:
	@command -v /usr/bin/chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium (apt-get install chromium) for the browser tests"; fi; }

bench: $(STAMP)
	$(PY) -m meanflow bench

clean:
	rm -rf $(VENV) .pytest_cache

# The bundled pretrained runs (assets/pretrained/): about 15 minutes on one core.
assets: $(STAMP)
	$(PY) assets/make_pretrained.py
