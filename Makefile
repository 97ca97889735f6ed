# nas_gym: `make demo` sets everything up and runs a short search; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,ray,mo,morl,video,onnx,gbdt,series,docs

.PHONY: setup demo test lint docs clean

setup: $(VENV)/.installed

# torch==2.13.0 first: it is the CPU wheel on this machine's disk; the package's own
# requirement is a range that this already satisfies, so pip pulls no CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	$(VENV)/bin/nas-gym search

# The two-node Ray cluster tests run second, by themselves (why: tests/search/test_ray_cluster.py).
test: setup
	$(PY) -m pytest
	$(PY) -m pytest -n 0 tests/search/test_ray_cluster.py

lint: setup
	$(VENV)/bin/ruff check nas_gym agents baselines scripts tests
	$(VENV)/bin/lint-imports

# The docs site into site/; --strict turns every warning (a broken link, a bad docstring) into an error.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs .pytest_cache site
