# evallib — evaluation notebook suite for NHS provider collaboratives.
# `make demo` and `make test` each work on their own in a fresh clone (they build .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DATA := data/demo/metrics.csv
NATIONAL_DATA := data/england/metrics.csv
PACK := params/black_country_demo.yaml
OUT := out/demo

.DEFAULT_GOAL := help
.PHONY: help demo test lab demo-data clean benchmarks venv england

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the pinned dependencies (only when pyproject.toml changed)

$(DEMO_DATA): $(STAMP) evallib/data/demo.py
	$(BIN)/evallib demo-data --out data/demo

$(NATIONAL_DATA): $(STAMP) evallib/data/demo.py evallib/data/demo_national.py
	$(BIN)/evallib demo-data --national --out data/england

demo-data: $(DEMO_DATA) $(NATIONAL_DATA) ## write the SYNTHETIC demo data to data/demo/ and data/england/

demo: $(DEMO_DATA) $(NATIONAL_DATA) ## build the demo board pack and print where it is (and write the national demo data)
	$(BIN)/evallib batch $(PACK) --out $(OUT); rc=$$?; \
	echo; echo "Board pack: $(abspath $(OUT))/index.html  (open it in a browser)"; exit $$rc

test: $(STAMP) ## run the whole test suite
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

england: $(NATIONAL_DATA) ## build the national demo pack (44 collaboratives x 11 measures; about 12 minutes on 2 cores)
	$(BIN)/evallib batch params/england_demo.yaml --out out/england; rc=$$?; \
	echo; echo "National pack: $(abspath out/england)/index.html"; exit $$rc

lab: $(DEMO_DATA) ## open JupyterLab on notebooks/ (demo data ready; adds --allow-root only when run as root)
	$(BIN)/jupyter lab --notebook-dir=notebooks $$(test "$$(id -u)" = 0 && echo --allow-root)

benchmarks: $(DEMO_DATA) ## run the speed benchmarks (prints ratios)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## remove generated data and outputs (keeps .venv)
	rm -rf data/demo data/england out .pytest_cache
