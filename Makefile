# The README's two commands: `make run` (the main job) and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INVDN := $(VENV)/bin/invdn

.PHONY: setup run test data clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU wheel (an unpinned torch pulls gigabytes of CUDA)
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[train,export-onnx,dev]'
	touch $@

setup: $(VENV)/.installed

# Main job: denoise the sample photos with the bundled default weights and score them against the clean originals.
run: setup
	$(INVDN) info
	$(INVDN) denoise samples/noisy -o out/samples
	$(PY) -m invdn_mobile.samples_report samples/clean out/samples samples/noisy

test: setup
	$(PY) -m pytest -q

# Training photos (Debian wallpaper packages + scikit-image samples) into data/photos/{train,test}.
data: setup
	$(PY) -m invdn_mobile.data.photos --out data/photos --cache data/cache

clean:
	rm -rf out runs export/out .pytest_cache
