# Two commands from a fresh clone: `make run` (the app) and `make test` (lint and the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-fast test-ray lint format browser bench assets guidance ablations tune clean

run: $(STAMP)
	$(PY) -m ui.serve

test: $(DEV_STAMP) browser lint
	$(PY) -m pytest -q

# The unit tests alone (no worker processes, servers, browsers or clusters): under a minute.
test-fast: $(DEV_STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

# The engine on a real two-node Ray cluster, in a private network namespace (needs root for unshare).
test-ray: $(DEV_STAMP)
	$(PY) -m pytest -q -s tests/engine/test_ray.py

# ruff, and the layer rule (pyproject.toml's [tool.importlinter]): an upward import fails here with its line.
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The requirements, then this checkout as an editable package (`meanflow` importable from anywhere, the
# `meanflow` command on the venv's PATH; no sys.path patching in tests or scripts).
$(STAMP): requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
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

# The tuned presets (assets/presets/tuned.json): every method by the same protocol (lab.tuning: 12 trials of
# 60 s, the comparison's budget, on 8gaussians and rings, two at once; about 63 minutes on a quiet 2-core
# machine), flow matching first (reflow's teachers use its preset). Then `make assets` for the table.
TUNED_METHODS := flow-matching meanflow shortcut consistency alphaflow imf splitmeanflow reflow
tune: $(STAMP)
	@start=$$(date +%s); rm -f build/tuning/tuned.json; \
	for m in $(TUNED_METHODS); do $(PY) -m meanflow tune --method $$m --out build/tuning || exit 1; done; \
	mkdir -p assets/presets && cp build/tuning/tuned.json assets/presets/tuned.json; \
	echo "make tune: $$(( $$(date +%s) - start )) s"

# The bundled pretrained runs (assets/pretrained/) and the method comparison (assets/studies/methods.json):
# every method, 3 targets, 3 seeds, 60 s each on one core: about 40 minutes on two cores; then the same rows
# on the digits, added beside them (about 20 minutes), then `guidance`.
assets: $(STAMP)
	$(PY) assets/make_studies.py --studies methods --targets checkerboard,moons,spiral,pinwheel,swissroll \
	  --seconds 60 --seeds 3 --pretrained
	$(PY) assets/make_studies.py --studies methods --targets digits --seconds 60 --seeds 3 --add
	$(MAKE) guidance

# The Guidance page's bundled runs and table (assets/studies/guidance.json): 2 targets, 3 seeds, 8,000 steps
# each (the same training for MeanFlow and flow matching; guidance differs at sampling): about 10 minutes;
# then the digits, added beside them.
guidance: $(STAMP)
	$(PY) assets/make_studies.py --studies guidance --targets 8gaussians,moons --steps 8000 --seeds 3 --pretrained
	$(PY) assets/make_studies.py --studies guidance --targets digits --steps 8000 --seeds 3 --pretrained --add

# The Ablations page's bundled tables (assets/studies/*.json) and each cell's seed-0 run
# (assets/studies/runs/): MeanFlow's design choices at a fixed
# step count (as the paper's Table 1 fixes its training length), 2 targets (the local structure of the
# checkerboard, the hardest, the spiral), 3 seeds: about 25 minutes.
ablations: $(STAMP)
	$(PY) assets/make_studies.py --steps 5000 --seeds 3 --targets checkerboard,spiral
	$(PY) assets/make_studies.py --studies r-neq-t,tangent --steps 5000 --seeds 3 --targets digits --add
