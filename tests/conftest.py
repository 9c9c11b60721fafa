"""Shared fixtures: the sample dataset, small simulated datasets, notebook execution."""
from __future__ import annotations

import json
import os
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
def sample_in_memory(sample):
    """The sample as in-memory frames (what a CSV folder or ``Dataset.from_frames`` gives): derived
    tables from DuckDB scanning the frames, not from the Parquet files (treat as read-only)."""
    from groupstats.data.dataset import Dataset

    return Dataset.from_frames(tz=sample.tz, validate=False, **sample.tables)


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

    The kernel is one of this process's warm kernels, reset to a fresh kernel's state first (as
    ``groupstats report`` runs them; see :mod:`groupstats.reports.runner.warm_kernel`).
    Returns (output_path, records) where records are the values the notebook
    stored with ``groupstats.reports.notebook.record``.
    """
    import papermill as pm

    from groupstats.reports.notebook import read_records
    from groupstats.reports.runner.warm_kernel import KERNELS, engine_name

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{name}.ipynb"
    parameters.setdefault("data_path", str(SAMPLE))
    kernel = KERNELS.acquire("python3")
    try:
        pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(output), parameters=parameters,
                            kernel_name="python3", cwd=None, progress_bar=False,
                            request_save_on_cell_execute=False, engine_name=engine_name(),
                            warm_kernel=kernel, reset_cwd=str(out_dir))
    except pm.PapermillExecutionError:
        raise  # a cell raised: the kernel is fine
    except Exception:
        kernel.broken = True  # timed out or died: not reused
        raise
    finally:
        KERNELS.release(kernel)
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


# --------------------------------------------------------------- one report batch per test session
def _run_all(out: Path) -> int:
    from groupstats.cli import main

    # plan_slots with fewer simulations than its default: the test checks the page, not the MDE
    return main(["report", "all", "--data", str(SAMPLE), "--out", str(out), "--jobs", "2",
                 "--timeout", "300", "-p", "n_sims=20"])


@pytest.fixture(scope="session")
def report_run(tmp_path_factory):
    """(exit code, output folder, index.json) of `groupstats report all` on the sample."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # common to every xdist worker of this session
    out = shared / "report_all"
    done = shared / "report_all.exitcode"
    lock_path = shared / "report_all.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: each worker runs its own
        fcntl = None
    with open(lock_path, "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                code = _run_all(out)
                done.write_text(str(code))
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    return int(done.read_text()), out, index



@pytest.fixture(scope="session")
def batch_records(report_run):
    """``batch_records("group_health")`` -> records of that notebook as executed by the session's
    `groupstats report all` on the sample (default parameters): tests of a notebook's numbers read
    them here instead of executing the notebook a second time."""
    from groupstats.reports.notebook import read_records

    _, out, _ = report_run

    def _records(name: str) -> dict:
        return read_records(out / f"{name}.ipynb")

    return _records
