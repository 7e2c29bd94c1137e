# Every target creates or reuses its virtual environment and installs what it needs: nothing
# else is assumed but python3 (>= 3.10), g++ and make.
comma      := ,
PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
EXTRAS     ?= test
STAMP      := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# No wheel cache: a fresh machine never reuses it, and TensorFlow's would double its 1.7 GB.
PIP        := -m pip install --quiet --no-cache-dir
# TensorFlow/QKeras need Keras 2 and numpy < 2: they get an environment of their own.
KERAS_VENV ?= .venv-keras
KERAS_PY   := $(KERAS_VENV)/bin/python
KERAS_STAMP := $(KERAS_VENV)/.installed-keras

.PHONY: venv venv-keras icarus test test-main test-keras test-full demo sim clean

venv: $(STAMP)
venv-keras: $(KERAS_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) $(PIP) --upgrade pip
	$(PY) $(PIP) -e '.[$(EXTRAS)]'
	touch $@

$(KERAS_PY):
	$(PYTHON) -m venv $(KERAS_VENV)

$(KERAS_STAMP): pyproject.toml | $(KERAS_PY)
	$(KERAS_PY) $(PIP) --upgrade pip
	$(KERAS_PY) $(PIP) -e '.[keras,plot]' pytest
	touch $@

## Icarus Verilog, for the Icarus half of the cocotb tests: not on PyPI, so apt-get installs it
## where we are root on Debian; elsewhere those tests skip, saying why.
icarus:
	@command -v iverilog >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Icarus Verilog (apt-get install iverilog)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq iverilog >/dev/null 2>&1 \
	      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq iverilog >/dev/null 2>&1; } \
	      || echo "warning: apt-get could not install iverilog: the Icarus tests will be skipped"; \
	  else echo "note: no iverilog (apt-get install iverilog): the Icarus tests will be skipped"; fi; }

## Run the test suite: the main environment, then the Keras extra's (long runs marked slow
## are skipped; see test-full). What CI runs (.ci/run). Costs on 2 cores: see the README.
test: test-main test-keras

## The main suite alone (11 min on 2 idle cores; .venv: ~25 s, 0.8 GB): no TensorFlow environment is built.
test-main: $(STAMP) icarus
	$(PY) -m pytest -m "not slow" -q

## The Keras/QKeras/hls4ml tests (2.6 min; .venv-keras: ~2 min, 1.7 GB the first time).
test-keras: $(KERAS_STAMP)
	$(KERAS_PY) -m pytest -q tests/keras

## Run every test, including the long ones.
test-full: $(STAMP) $(KERAS_STAMP) icarus
	$(PY) -m pytest -q
	$(KERAS_PY) -m pytest -q tests/keras

## The main job on the default example.
demo: $(STAMP)
	$(VENV)/bin/quantkan train examples/drift_kan.toml -o out/drift_kan.qkan --plot out/drift_kan.png

## Cycle-accurate verification of the default model: its Verilog in cocotb against the golden model.
sim: $(STAMP)
	$(VENV)/bin/quantkan sim examples/drift_kan.toml

clean:
	rm -rf build out .pytest_cache sim_build
