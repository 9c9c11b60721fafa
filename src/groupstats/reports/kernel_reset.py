"""Runs INSIDE a report kernel that executes several notebooks one after the other.

The report runner (:mod:`groupstats.reports.runner.warm_kernel`) keeps one Jupyter kernel per
worker and calls :func:`reset` silently before each notebook, so a notebook starts from the
state a fresh kernel has, without paying for a new kernel and its imports:

- the user namespace, ``In``/``Out`` and the execution counter (``In [1]`` again) are cleared
  (``InteractiveShell.reset(new_session=True)``);
- figures are closed, and matplotlib's ``rcParams`` and unit converters are put back to what
  they were when the kernel was new (``setup_plots`` and seaborn themes change them);
- warnings shown "once" by one notebook are shown again by the next;
- the working directory is the report folder.

What survives the reset (the imported modules and their caches) is then frozen out of the garbage
collector (``gc.freeze``): a kernel holding pandas, matplotlib, scikit-learn and Ibis tracks ~300k
objects, and every full collection walked them all again (~0.2 s at each reset, and again in each
of the notebook's own full collections). Only objects made after the reset are collected then; what
is frozen is never freed by the collector, which is what happens to a module's objects anyway.

Imported modules stay loaded: that is the point (a module's import-time effects happened once,
as in a fresh kernel that imports it). Only the standard library is imported here at module level.
"""
from __future__ import annotations

_RC: dict | None = None
_UNITS: dict | None = None


def _snapshot() -> None:
    """Remember matplotlib's state as a fresh kernel has it right after ``import matplotlib.pyplot``
    (the inline backend is active then)."""
    global _RC, _UNITS
    import matplotlib
    import matplotlib.pyplot  # noqa: F401  (activates the kernel's inline backend, as a notebook's import does)
    import matplotlib.units

    _RC = {k: v for k, v in matplotlib.rcParams.copy().items() if k != "backend"}
    _UNITS = dict(matplotlib.units.registry)


def reset(cwd: str) -> None:
    """Put the kernel back to a fresh kernel's state (see the module docstring) and ``chdir(cwd)``.

    The first call, on a new kernel, only records matplotlib's fresh state.
    """
    import gc
    import os
    import warnings

    if _RC is None:
        _snapshot()
    else:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.reset(new_session=True)
        import matplotlib
        import matplotlib.pyplot as plt
        import matplotlib.units

        plt.close("all")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.rcParams.update(_RC)
        matplotlib.units.registry.clear()
        matplotlib.units.registry.update(_UNITS)
        warnings._filters_mutated()  # forget which warnings were already shown "once"
        gc.collect()  # the previous notebook's objects (the shell's own collection ran before its namespace went)
    gc.freeze()
    os.chdir(cwd)
