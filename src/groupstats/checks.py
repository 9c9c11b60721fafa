"""One validator for scalar parameters, so every check is one line with one message shape.

Modelled on tea-tasting's ``check_scalar``: it returns the value, so

>>> from groupstats.checks import check_scalar
>>> alpha = check_scalar(0.05, "alpha", typ=float, gt=0, lt=1)
>>> check_scalar(1.5, "alpha", typ=float, gt=0, lt=1)
Traceback (most recent call last):
...
groupstats.errors.ParameterError: alpha must be less than 1, got 1.5.
"""
from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real

from groupstats.errors import ParameterError

_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "True or False"}


def check_scalar(value, name: str, *, typ: type | tuple[type, ...] | None = None, ge=None, gt=None, le=None,
                 lt=None, in_: Collection | None = None, none_ok: bool = False):
    """Return ``value`` if it satisfies every condition given, else raise :class:`ParameterError`.

    Parameters
    ----------
    value : object
    name : str
        The parameter's name as the user writes it (``alpha``, ``--window``).
    typ : type or tuple of types, optional
        ``int`` accepts any integral number except bools; ``float`` accepts any real number
        (ints included) except bools.
    ge, gt, le, lt : number, optional
        Bounds: greater than or equal, greater than, less than or equal, less than.
    in_ : collection, optional
        The allowed values.
    none_ok : bool, default False
        Accept None (and skip the other checks).

    Raises
    ------
    ParameterError
        ``"<name> must be <condition>, got <value>."``
    """
    if value is None and none_ok:
        return value
    if typ is not None and not _is_type(value, typ):
        kinds = typ if isinstance(typ, tuple) else (typ,)
        wanted = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in kinds)
        raise ParameterError(f"{name} must be {wanted}, got {value!r}.")
    if in_ is not None and value not in in_:
        raise ParameterError(f"{name} must be one of {', '.join(map(str, in_))}, got {value!r}.")
    for bound, ok, text in ((ge, lambda v, b: v >= b, "greater than or equal to"),
                            (gt, lambda v, b: v > b, "greater than"),
                            (le, lambda v, b: v <= b, "less than or equal to"),
                            (lt, lambda v, b: v < b, "less than")):
        if bound is None:
            continue
        try:
            fine = bool(ok(value, bound))
        except TypeError:
            fine = False
        if not fine:
            raise ParameterError(f"{name} must be {text} {bound}, got {value!r}.")
    return value


def finite_number(x) -> bool:
    """Whether ``x`` is a number (or converts to one) that is neither NaN nor infinite; None is not."""
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _is_type(value, typ) -> bool:
    kinds = typ if isinstance(typ, tuple) else (typ,)
    for kind in kinds:
        if kind is int and isinstance(value, Integral) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, Real) and not isinstance(value, bool):
            return True
        if kind is bool:
            import numpy as np

            if isinstance(value, (bool, np.bool_)):
                return True
        if kind not in (int, float) and isinstance(value, kind):
            return True
    return False
