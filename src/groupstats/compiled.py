"""``numba.njit`` as the package compiles its loops: without the GIL, cached on disk.

The cache sits next to the compiled module (else in the user's cache folder); where no folder is
writable, a function is compiled once per process instead.
"""
from __future__ import annotations


def compiled(function=None, **options):
    """``numba.njit(nogil=True, cache=True, **options)``; without ``cache`` where numba finds no folder for it."""
    import numba

    if function is None:
        return lambda f: compiled(f, **options)
    try:
        return numba.njit(nogil=True, cache=True, **options)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, **options)(function)
