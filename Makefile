# make install — system packages (where missing) and the virtual environment in .venv
# make test    — the whole test suite, under a virtual X server
# make demo    — a complete service point on this machine
# make lint    — ruff over the tree, mypy over core/ bus/ hub/ sync/ central/ (settings in pyproject.toml)
# make wheel-check — build the wheel, install it into a fresh venv, run it from outside the checkout
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench locale lint wheel-check clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py scripts/system-deps.sh
	PYTHON=$(PYTHON) sh scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev,central]'
	$(MAKE) locale
	touch $(STAMP)

locale:
	$(BIN)/python -m core.i18n compile

test: install locale
	xvfb-run -a -s "-screen 0 1920x1080x24" $(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: install locale
	$(BIN)/palvelupiste demo $(DEMO_ARGS)

bench: install locale
	for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

wheel-check: install
	PYTHON=$(PYTHON) BUILD_PYTHON=$(BIN)/python sh scripts/wheel-check.sh

clean:
	rm -rf $(VENV) build dist *.egg-info demo-output
	find assets/locale -name '*.mo' -delete
