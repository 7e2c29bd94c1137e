# Every target creates or reuses .venv and installs what it needs: nothing else is assumed
# but python3 (>= 3.10), g++ and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= test
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: venv test test-full demo clean

venv: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

## Run the test suite (long runs marked slow are skipped; see test-full).
test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

## Run every test, including the long ones.
test-full: $(STAMP)
	$(PY) -m pytest -q

## The main job on the default example.
demo: $(STAMP)
	$(VENV)/bin/quantkan train examples/drift_kan.toml --out out/drift_kan.qkan --plot out/drift_kan.png

clean:
	rm -rf build out .pytest_cache
