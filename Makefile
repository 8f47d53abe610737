# make install — system packages (where missing) and the virtual environment in .venv
# make test    — the whole test suite, under a virtual X server
# make demo    — a complete service point on this machine
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench locale clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/system-deps.sh
	PYTHON=$(PYTHON) sh scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
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

clean:
	rm -rf $(VENV) build *.egg-info demo-output
	find assets/locale -name '*.mo' -delete
