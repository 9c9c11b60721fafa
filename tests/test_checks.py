"""check_scalar (one validator, one message shape) and the package's public names."""
from __future__ import annotations

import numpy as np
import pytest

import groupstats
from groupstats.checks import check_scalar
from groupstats.errors import ParameterError


def test_check_scalar_returns_the_value_when_every_condition_holds():
    assert check_scalar(0.05, "alpha", typ=float, gt=0, lt=1) == 0.05
    assert check_scalar(3, "k", typ=int, ge=2, le=8) == 3
    assert check_scalar(np.int64(3), "k", typ=int, ge=2) == 3
    assert check_scalar("duckdb", "engine", typ=str, in_=("duckdb", "spark")) == "duckdb"
    assert check_scalar(None, "threads", typ=int, ge=1, none_ok=True) is None
    assert check_scalar(np.bool_(True), "flag", typ=bool)


@pytest.mark.parametrize("value,kwargs,message", [
    (1.5, {"typ": float, "gt": 0, "lt": 1}, "alpha must be less than 1, got 1.5."),
    (0, {"typ": float, "gt": 0}, "alpha must be greater than 0, got 0."),
    (-1, {"ge": 0}, "alpha must be greater than or equal to 0, got -1."),
    (2, {"le": 1}, "alpha must be less than or equal to 1, got 2."),
    (True, {"typ": int}, "alpha must be a whole number, got True."),
    ("0.1", {"typ": float}, "alpha must be a number, got '0.1'."),
    ("x", {"in_": ("a", "b")}, "alpha must be one of a, b, got 'x'."),
    (None, {"typ": float}, "alpha must be a number, got None."),
    ("a", {"gt": 0}, "alpha must be greater than 0, got 'a'."),
])
def test_check_scalar_raises_one_message_shape(value, kwargs, message):
    with pytest.raises(ParameterError) as err:
        check_scalar(value, "alpha", **kwargs)
    assert str(err.value) == message


def test_every_public_analysis_importable_from_the_package():
    for name in groupstats.__all__:
        assert getattr(groupstats, name) is not None
    assert "analyse_mix_experiment" in groupstats.__all__ and "analyse_slot_experiment" in groupstats.__all__
    assert not [n for n in groupstats.__all__ if n.startswith("analyze_")]  # one spelling
    with pytest.raises(AttributeError):
        groupstats.analyze_everything  # noqa: B018
