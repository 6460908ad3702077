# Set-up and everyday commands. Each target installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo plots notebooks bench clean

install: $(STAMP)

# (re)create the virtual environment when it is missing or pyproject.toml changed
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# the CDNOW batch job: predictions, model files, holdout table, plots and manifest in build/cdnow-run
demo: $(STAMP)
	$(BIN)/clvmodels run examples/cdnow.toml

# every diagnostic plot on CDNOW as a PNG in build/gallery (docs/gallery keeps the README's few)
plots: $(STAMP)
	$(BIN)/python -m clvmodels.gallery build/gallery

# the walk-through notebooks executed, with their outputs, in build/notebooks (the committed ones have none)
notebooks: $(STAMP)
	$(BIN)/python notebooks/build.py --execute build/notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
