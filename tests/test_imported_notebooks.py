"""The analysis notebooks on an imported dataset (WeChatMsg export of a simulated community, with a roster).

group_health and member_segmentation must run; the notebooks that need tables an
export cannot provide (experiment assignments) or more history must stop with a
clear message naming what is missing.
"""
from __future__ import annotations

import warnings

import pytest

from groupstats import load_dataset
from groupstats.data.importers import import_chats
from importers_helpers import write_wechatmsg_export

ROOT_NOTEBOOKS = __import__("pathlib").Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def imported(tmp_path_factory, small_sim):
    ds, _ = small_sim
    folder = tmp_path_factory.mktemp("imported_export")
    write_wechatmsg_export(ds, folder / "export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_chats("wechatmsg", sorted((folder / "export").glob("group_*.csv")), folder / "dataset",
                     salt_file=folder / "salt", roster=folder / "export" / "roster.csv",
                     posts_plan=folder / "export" / "posts_plan.csv")
    return folder / "dataset"


def _require(name: str) -> None:
    assert (ROOT_NOTEBOOKS / f"{name}.ipynb").exists(), (
        f"notebooks/{name}.ipynb does not exist yet (written under another issue); this test passes once it lands")


def test_imported_dataset_is_what_the_notebooks_expect(imported):
    ds = load_dataset(imported)
    assert ds.posts is not None and len(ds.posts) > 0
    assert ds.assignments is None and ds.events is None
    assert not any("Silent members" in note for note in ds.metadata["notes"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["group_health", "member_segmentation"])
def test_notebook_runs_on_imported_data(name, imported, run_notebook):
    _require(name)
    output, records = run_notebook(name, data_path=str(imported))
    assert output.exists()
    assert records, f"{name} recorded no results on the imported dataset"


@pytest.mark.slow
@pytest.mark.parametrize("name, missing", [("posting_time_ab", ("assignments",)),
                                           ("content_mix", ("assignments",)),
                                           ("churn_risk", ("history", "days", "cutoff"))])
def test_other_notebooks_say_what_they_lack(name, missing, imported, run_notebook):
    from papermill.exceptions import PapermillExecutionError

    _require(name)
    try:
        run_notebook(name, data_path=str(imported))
    except PapermillExecutionError as exc:
        assert exc.ename in ("MissingTableError", "InsufficientDataError"), (exc.ename, exc.evalue)
        assert any(word in exc.evalue for word in missing), exc.evalue
        return
    # 60 days of imported history can be enough for the churn model; experiments cannot run without assignments
    assert name == "churn_risk", f"{name} ran on an import without experiment assignments"
