# Two commands on a fresh machine with only python3:
#   make reports   run every notebook on data/sample into reports/
#   make test      run the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test reports bench sample clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (groupstats)" >/dev/null
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

reports: $(STAMP)
	$(VENV)/bin/groupstats report all --data data/sample --out reports --jobs 2
	@echo "open reports/index.html in a browser"

bench: $(STAMP)
	$(PY) -m benchmarks.run

# Rebuild the bundled sample dataset (fixed seed; see data/sample/README.md).
sample: $(STAMP)
	$(VENV)/bin/groupstats simulate --out data/sample --groups 12 --days 120 --seed 20261121 --format parquet

clean:
	rm -rf $(VENV) reports .pytest_cache
