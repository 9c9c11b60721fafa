"""Shared fixtures: the sample dataset, small simulated datasets, notebook execution."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
NOTEBOOKS = ROOT / "notebooks"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample():
    """The bundled sample dataset, loaded once per test session (treat as read-only)."""
    from groupstats import load_dataset

    return load_dataset(SAMPLE)


@pytest.fixture(scope="session")
def sample_truth() -> dict:
    return json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def small_sim():
    """A small simulated community (dataset, truth): 8 groups, 60 days, seed 7."""
    from groupstats.data.simulate import simulate_community

    return simulate_community(n_groups=8, days=60, seed=7, members_per_group=40)


def execute_notebook(name: str, out_dir: Path, **parameters):
    """Execute notebooks/<name>.ipynb with papermill in this interpreter's kernel.

    Returns (output_path, records) where records are the values the notebook
    stored with ``groupstats.reports.notebook.record``.
    """
    import papermill as pm

    from groupstats.reports.notebook import read_records

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{name}.ipynb"
    parameters.setdefault("data_path", str(SAMPLE))
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(output), parameters=parameters,
                        kernel_name="python3", cwd=str(out_dir), progress_bar=False,
                        request_save_on_cell_execute=False)
    return output, read_records(output)


@pytest.fixture
def run_notebook(tmp_path):
    """Call ``run_notebook("member_segmentation", k=4)`` -> (output path, records dict)."""

    def _run(name: str, **parameters):
        return execute_notebook(name, tmp_path, **parameters)

    return _run


def pytest_configure(config):
    # make ``import benchmarks`` work from tests
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
