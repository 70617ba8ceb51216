# The README's two commands: `make run` (the main job) and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INVDN := $(VENV)/bin/invdn

.PHONY: setup web run test data clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "invdn-mobile needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU wheel (an unpinned torch pulls gigabytes of CUDA)
	$(VENV)/bin/pip install --quiet torch==2.13.0
	# everything else at the versions resolved and tested together (constraints.txt: scripts/constraints.py writes it)
	$(VENV)/bin/pip install --quiet -e '.[train,export-onnx,export-tflite,export-coreml,export-executorch,bench,dev]' -c constraints.txt
	$(PY) -m pip check
	touch $@

# The web demo's npm packages (onnxruntime-web, playwright-core), exactly as locked; node_modules is git-ignored.
web_demo/node_modules/.package-lock.json: web_demo/package.json web_demo/package-lock.json
	npm ci --prefix web_demo --no-audit --no-fund

# The browser tests need npm; without it they are reported as not run (and fail in CI, where everything must run).
web: $(VENV)/.installed
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web_demo/node_modules/.package-lock.json; \
	else echo "npm not found: the web demo's packages are not installed; its browser tests will not run"; fi

setup: $(VENV)/.installed web

# Main job: export the bundled weights to every target recipe (ONNX, TFLite, CoreML x FP32/FP16/INT8, and the
# z-input twins) into export/out/, run parity on each and print the table; exits non-zero if a gate fails.
run: $(VENV)/.installed
	$(INVDN) info
	$(INVDN) export all

test: setup
	$(PY) -m pytest -q

# Training photos (Debian wallpaper packages + scikit-image samples) into data/photos/{train,test}.
data: $(VENV)/.installed
	$(INVDN) photos --out data/photos --cache data/cache

clean:
	rm -rf out runs export/out .pytest_cache
