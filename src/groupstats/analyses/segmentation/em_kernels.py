"""Compiled passes of the rate mixture's EM (numba), without the GIL: the E-step's exponents, then (after
numpy's vectorised exp) the responsibilities with the M-step's sums, then the group-effect sums.

numpy needed some 40 passes over a (components x rows) array per EM update (three logarithms, an
exponential, and one temporary per arithmetic operation); these loops look up what depends only on a
member's measurement variance (and, for the read and sign-in columns, on the value) in small
per-update tables, and release the GIL, so that the fits on two threads run in parallel. The
arithmetic is the EM of :meth:`RateMixture._em_step`; only the order of the sums differs (partial sums
per block of ``block`` rows, as the numpy version summed per row block).
"""
from __future__ import annotations

import numpy as np

from groupstats.compiled import compiled as _compiled


#: Floating-point licences for the loops over components: sums may be reordered (so that they run as
#: vector instructions) and contracted to fused multiply-adds; values may still be infinite or NaN.
_VECTOR_SUMS = {"reassoc", "nsz", "contract"}


@_compiled(fastmath=_VECTOR_SUMS)
def log_densities(y0, group, effects, use_effects, iv0, base_tab, inv0_tab, codes, t_tab, mean0, out,
                  top):  # pragma: no cover - compiled
    """The E-step's exponents: ``out[i, k] = -(dev_ik - min_k dev_ik) / 2`` and ``top[i] = min_k dev_ik``, with
    ``dev_ik = -2 log(share_k) + sum_j (log(var_kj + v_ij) + (y_ij - mean_kj)^2 / (var_kj + v_ij))``.

    Row ``i`` has rate value ``y0[i]`` (minus ``effects[group[i]]`` when ``use_effects``) and
    ``iv0[i]``, the index of its measurement variance among the distinct ones; ``codes[:, i]`` index
    its other columns' (value, variance) in the rows of ``t_tab``. Tables, shape (values, k):
    ``inv0_tab`` = 1 / (var_k + v) and ``base_tab`` = -2 log(share_k) + log(var_k + v) for the rate
    column; ``t_tab`` = log(var_k + v) + (y - mean_k)^2 / (var_k + v) for the other columns.
    The exponential is left to numpy, whose vectorised exp is several times faster than a scalar one.
    """
    n = y0.shape[0]
    k = mean0.shape[0]
    n_codes = codes.shape[0]
    e = np.empty(k)
    for i in range(n):
        yi = y0[i] - effects[group[i]] if use_effects else y0[i]
        a = iv0[i]
        for c in range(k):
            d = yi - mean0[c]
            e[c] = base_tab[a, c] + d * d * inv0_tab[a, c]
        for j in range(n_codes):
            row = codes[j, i]
            for c in range(k):
                e[c] += t_tab[row, c]
        low = e[0]
        for c in range(1, k):
            low = min(low, e[c])
        top[i] = low
        for c in range(k):
            out[i, c] = -0.5 * (e[c] - low)


@_compiled
def responsibility_sums(y0, v0, w, group, effects, use_effects, iv0, inv0_tab, codes, mean0, top, block, r,
                        r_tab):  # pragma: no cover - compiled
    """From ``r`` = exp of :func:`log_densities`'s exponents: normalises each row to the responsibilities
    times the row's count ``w[i]`` (in place), adds them per distinct value of the other columns into
    ``r_tab`` (zeroed by the caller), and returns (log-likelihood without the 2 pi constant, r_k,
    sum u d, sum u q, sum u v) with ``u = r / (var + v)``, ``d`` the rate's distance from the component
    mean and ``q = d^2 / (var + v)`` (rate column). Sums are taken per block of ``block`` rows, then added.
    """
    n = y0.shape[0]
    k = mean0.shape[0]
    n_codes = codes.shape[0]
    ll = 0.0
    sums = np.zeros((4, k))  # r_k, sum u d, sum u q, sum u v
    part = np.empty((4, k))
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        part_ll = 0.0
        part[:] = 0.0
        for i in range(lo, hi):
            tot = 0.0
            for c in range(k):
                tot += r[i, c]
            wi = w[i]
            part_ll += wi * (np.log(tot) - 0.5 * top[i])
            scale = wi / tot
            yi = y0[i] - effects[group[i]] if use_effects else y0[i]
            a = iv0[i]
            vi = v0[i]
            for c in range(k):
                rc = r[i, c] * scale
                r[i, c] = rc
                d = yi - mean0[c]
                inv = inv0_tab[a, c]
                u = rc * inv
                part[0, c] += rc
                part[1, c] += u * d
                part[2, c] += u * (d * d * inv)
                part[3, c] += u * vi
            for j in range(n_codes):
                row = codes[j, i]
                for c in range(k):
                    r_tab[row, c] += r[i, c]
        ll += part_ll
        sums += part
    return ll, sums


@_compiled
def group_effect_sums(y0, iv0, group, r, inv0_tab, mean0, n_groups):  # pragma: no cover - compiled
    """Per group: ``num = sum_i (y_i sum_k p_ik - sum_k mean_k p_ik)`` and ``den = sum_i sum_k p_ik`` with
    the precision weights ``p_ik = r_ik / (var_k + v_i)`` (``inv0_tab[iv0[i], k]`` = 1 / (var_k + v_i)):
    the group-effect update of the M-step."""
    n, k = r.shape
    num = np.zeros(n_groups)
    den = np.zeros(n_groups)
    for i in range(n):
        a = iv0[i]
        den_row = 0.0
        mean_part = 0.0
        for c in range(k):
            p = r[i, c] * inv0_tab[a, c]
            den_row += p
            mean_part += mean0[c] * p
        g = group[i]
        num[g] += y0[i] * den_row - mean_part
        den[g] += den_row
    return num, den
