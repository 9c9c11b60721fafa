"""A fitted HistGradientBoostingClassifier's probabilities with one feature column replaced, bit for bit.

Permutation importance and the per-member drivers score the same rows many times, each time with one
column changed (shuffled, or set to the training median). A tree that never splits on that column gives
every row the same value as before, so only the trees that split on it need to be evaluated again; the
others' per-tree values are kept from the unchanged matrix. A row whose value the copy does not change
(a median replacing a median, a shuffle that draws an equal count, NaN for NaN) is the same row: it
keeps its probability, and only the changed rows are evaluated again. The per-tree values are then added up in
the estimator's own order, starting from its baseline, exactly as scikit-learn's ``_raw_predict`` does
(``raw = baseline; raw += tree_1(X); raw += tree_2(X); ...``), and mapped to probabilities by the
estimator's own loss: the result is the same float64 numbers as ``predict_proba`` on the modified
matrix (tests/test_churn_scoring_shortcuts.py checks equality, not closeness). Each row is scored on its own, so
the number of threads does not change any value.

By default the trees are walked by a compiled kernel (:mod:`.tree_kernels`): each row's path once per tree, and
a copy again only from the first split on its column that sends it the other way, so a tree that splits on
the column only off the row's path costs nothing either (140M row-tree evaluations of scikit-learn's predictor
for the drivers on the many-groups benchmark). ``ColumnSwaps(..., compiled=False)`` keeps the predictor on
copies, as the reference the kernel is tested against.

This reads scikit-learn's fitted internals (``_predictors``, ``_baseline_prediction``, ``_bin_mapper``,
``_loss``); :func:`supports` says whether an estimator has them in the expected form, and callers fall
back to ``predict_proba`` otherwise.
"""
from __future__ import annotations

import os

import numpy as np

#: Rows of the unchanged matrix handled at once: the copies of a block (rows x columns x copies) stay in
#: the CPU cache while the trees are evaluated on them (1,024 rows: ~30% less CPU than 24,500 at once with
#: 32 columns and 3 copies, the same numbers), and memory stays bounded.
_BLOCK_ROWS = 1024
#: Threads that evaluate blocks of rows at once (:meth:`ColumnSwaps.swapped`); each block's trees run single-threaded.
_WORKERS = min(4, os.cpu_count() or 1)


def supports(estimator) -> bool:
    """Whether ``estimator`` is a fitted binary HistGradientBoostingClassifier on numeric columns
    whose internals this module reads."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    if not isinstance(estimator, HistGradientBoostingClassifier):
        return False
    needed = ("_predictors", "_baseline_prediction", "_bin_mapper", "_loss", "n_trees_per_iteration_")
    if not all(hasattr(estimator, a) for a in needed):
        return False
    if estimator.n_trees_per_iteration_ != 1 or getattr(estimator, "_preprocessor", None) is not None:
        return False
    if getattr(estimator, "is_categorical_", None) is not None and np.any(estimator.is_categorical_):
        return False
    return all(len(it) == 1 and hasattr(it[0], "nodes") and hasattr(it[0], "predict")
               for it in estimator._predictors)


class ColumnSwaps:
    """Probabilities of ``estimator`` on ``X`` and on copies of ``X`` with one column replaced.

    Parameters
    ----------
    estimator : fitted HistGradientBoostingClassifier (see :func:`supports`)
    X : array (n, k)
    n_threads : int, default 1
        OpenMP threads per tree evaluation (rows are independent: any number gives the same values).
    compiled : bool, default True
        Walk the trees with the compiled kernel of :mod:`.tree_kernels` (each row's path once per tree);
        False: scikit-learn's predictor on copies of the changed rows. Both give the same numbers.
    """

    def __init__(self, estimator, X: np.ndarray, n_threads: int = 1, compiled: bool = True):
        if not supports(estimator):
            raise TypeError("ColumnSwaps needs a fitted binary HistGradientBoostingClassifier on numeric columns.")
        self.estimator = estimator
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.n_threads = int(n_threads)
        self.trees = [it[0] for it in estimator._predictors]
        k = self.X.shape[1]
        self.uses = np.zeros((len(self.trees), k), bool)  # uses[t, j]: tree t splits on column j
        for t, tree in enumerate(self.trees):
            nodes = tree.nodes
            split = nodes["feature_idx"][nodes["is_leaf"] == 0]
            self.uses[t, np.unique(split[split < k])] = True
        self.baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).ravel()[0]
        self._bitsets = estimator._bin_mapper.make_known_categories_bitsets()
        #: whether :meth:`swapped` runs the compiled walk (:mod:`.tree_kernels`); else scikit-learn's predictor
        #: per tree, on copies of the rows a replacement changes (the same numbers; kept to check one by the other)
        self.compiled = compiled
        self._nodes = None

    def _tree(self, t: int, X: np.ndarray) -> np.ndarray:
        known_cat_bitsets, f_idx_map = self._bitsets
        return self.trees[t].predict(X, known_cat_bitsets, f_idx_map, self.n_threads)

    def _proba(self, raw: np.ndarray) -> np.ndarray:
        shape = raw.shape
        return self.estimator._loss.predict_proba(raw.reshape(-1))[:, 1].reshape(shape)

    def base(self) -> np.ndarray:
        """``predict_proba(X)[:, 1]``, shape (n,)."""
        return self.swapped([])[1]

    def swapped(self, replacements) -> tuple[list, np.ndarray]:
        """Probabilities with column ``j`` replaced by each row of ``values``, for each ``(j, values)``.

        ``values`` has shape (m, n) (or (n,), read as m = 1): copy ``r`` of ``X`` has column ``j`` equal
        to ``values[r]``. Returns ``(swapped, base)``: a list of (m, n) arrays, the same numbers as
        ``predict_proba(Xr)[:, 1]`` for each copy, and ``predict_proba(X)[:, 1]``.
        """
        items = [(int(j), np.atleast_2d(np.asarray(v, dtype=np.float64))) for j, v in replacements]
        if self.compiled:
            return self._swapped_compiled(items)
        n = len(self.X)
        out = [np.empty(v.shape) for _, v in items]
        base = np.empty(n)
        blocks = [(lo, min(n, lo + _BLOCK_ROWS)) for lo in range(0, n, _BLOCK_ROWS)]
        workers = min(_WORKERS, len(blocks))
        if workers < 2:
            for lo, hi in blocks:
                self._block(lo, hi, items, out, base)
            return out, base
        # blocks are independent (each writes its own rows of ``out`` and ``base``): the trees' Cython
        # evaluation releases the GIL, so threads run it on several cores with the same numbers
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            chunks = [blocks[i::workers] for i in range(workers)]
            for done in [pool.submit(self._blocks, chunk, items, out, base) for chunk in chunks]:
                done.result()
        return out, base

    def _swapped_compiled(self, items) -> tuple[list, np.ndarray]:
        """:meth:`swapped` by :func:`.tree_kernels.swapped_raw`: each row's path walked once per tree, a copy
        walked again only from where it leaves that path; rows in blocks on up to :data:`_WORKERS` threads."""
        from groupstats.analyses.churn.tree_kernels import concatenated_nodes, swapped_raw

        n, k = self.X.shape
        if self._nodes is None:
            self._nodes = concatenated_nodes(self.trees)
        nodes = self._nodes
        columns = np.array([j for j, v in items for _ in range(v.shape[0])], dtype=np.int64)
        if len(columns) and (columns.min() < 0 or columns.max() >= k):
            raise IndexError(f"column out of range for a matrix of {k} columns: {sorted(set(columns.tolist()))}")
        values = (np.concatenate([v for _, v in items], axis=0) if items else np.empty((0, n)))
        values = np.ascontiguousarray(values, dtype=np.float64)
        if values.shape[1] != n:
            raise ValueError(f"replacement values have {values.shape[1]} rows, the matrix {n}")
        order = np.argsort(columns, kind="stable")
        start = np.searchsorted(columns[order], np.arange(k + 1)).astype(np.int64)
        raw_base = np.empty(n)
        raw_items = np.empty((len(columns), n))
        args = (nodes["roots"], nodes["feature"], nodes["threshold"], nodes["missing_left"], nodes["left"],
                nodes["right"], nodes["is_leaf"], nodes["value"], float(self.baseline), columns, values, start,
                order.astype(np.int64), nodes["max_depth"], raw_base, raw_items)
        step = max(_BLOCK_ROWS, -(-n // (4 * _WORKERS)))
        blocks = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
        if _WORKERS < 2 or len(blocks) < 2:
            for lo, hi in blocks:
                swapped_raw(self.X, lo, hi, *args)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
                for done in [pool.submit(swapped_raw, self.X, lo, hi, *args) for lo, hi in blocks]:
                    done.result()
        base = self._proba(raw_base)
        out, row = [], 0
        for _, v in items:
            out.append(self._proba(raw_items[row:row + v.shape[0]]))
            row += v.shape[0]
        return out, base

    def _blocks(self, blocks, items, out, base) -> None:
        for lo, hi in blocks:
            self._block(lo, hi, items, out, base)

    def _block(self, lo: int, hi: int, items, out, base) -> None:
        """Rows ``lo:hi`` of :meth:`swapped`'s results, written into ``out`` and ``base``."""
        T = len(self.trees)
        block = self.X[lo:hi]
        per_tree = np.empty((T, hi - lo))
        raw = np.full(hi - lo, self.baseline)
        for t in range(T):  # scikit-learn's order: baseline, then each tree's value added in turn
            per_tree[t] = self._tree(t, block)
            raw += per_tree[t]
        base[lo:hi] = self._proba(raw)
        for (j, values), dest in zip(items, out):
            new = values[:, lo:hi]
            old = block[:, j]
            # a row whose value does not change is the same row: its per-tree values and their sum are
            # the base's, bit for bit; only the changed rows are scored again
            changed = ~((new == old) | (np.isnan(new) & np.isnan(old)))
            dest[:, lo:hi] = base[lo:hi]
            copy_of, row_of = np.nonzero(changed)
            if not len(row_of):
                continue
            copies = block[row_of]
            copies[:, j] = new[copy_of, row_of]
            raw = np.full(len(row_of), self.baseline)
            for t in range(T):
                raw += self._tree(t, copies) if self.uses[t, j] else per_tree[t][row_of]
            dest[copy_of, lo + row_of] = self._proba(raw)
