# Two commands on a fresh machine with only python3 (3.11+):
#   make reports   run every report on data/sample into reports/
#   make test      run the test suite
# Both install the exact versions in uv.lock into .venv. The installer (uv, pinned
# below) is bootstrapped into .tools/ with python3's own venv and pip.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# spark: the Spark engine and its equality test (tests/test_engine_spark.py; needs Java 17)
EXTRAS ?= --extra dev --extra spark
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: venv test reports bench sample lock environment clean

venv: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode $(EXTRAS) --python $(PYTHON) --quiet
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (groupstats)" >/dev/null
	@touch $(STAMP)

# Byte-compile the package first: where PYTHONDONTWRITEBYTECODE is set, every process (test workers,
# kernels, CLI subprocesses) would otherwise compile the modules it imports again.
test: $(STAMP)
	$(PY) -m compileall -q src
	$(PY) -m pytest -n 2 -q

reports: $(STAMP)
	$(PY) -m compileall -q src
	$(VENV)/bin/groupstats report all --data data/sample --out reports --jobs 2
	@echo "open reports/index.html in a browser"

bench: $(STAMP)
	$(PY) -m benchmarks.run

# Refresh uv.lock to today's releases (lower bounds stay in pyproject.toml), then
# derive environment.yml from the locked versions.
lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(MAKE) environment

environment: | $(UV)
	$(PYTHON) tools/environment_from_lock.py

# Rebuild the bundled sample dataset (fixed seed; see data/sample/README.md).
sample: $(STAMP)
	$(VENV)/bin/groupstats simulate --out data/sample --groups 12 --days 120 --seed 20261121 --format parquet

clean:
	rm -rf $(VENV) $(TOOLS) reports .pytest_cache
