"""Compiled gradient-boosting sums with one feature replaced, for :mod:`.tree_swaps` (numba, without the GIL).

For each row and each tree, the row's own path is walked once. A copy of the row with column ``j`` set to
``v`` takes the same path until the first node on it that splits on ``j`` and sends ``v`` the other way
than the row's own value; from there it is walked again with ``v`` in column ``j``. If no such node lies on
the path, the copy ends in the row's own leaf. So each copy's leaf is the one scikit-learn's predictor
reaches on the copied matrix (the same comparisons: NaN follows ``missing_go_to_left``, else ``x <=
num_threshold`` goes left), and each copy's raw score is summed in the estimator's order, baseline first,
then tree after tree (``raw += tree_t(X)``): the same float64 numbers as ``_raw_predict`` on the copies.
"""
from __future__ import annotations

import numpy as np

from groupstats.compiled import compiled


@compiled
def _goes_left(x, threshold, missing_left):  # pragma: no cover - compiled
    if np.isnan(x):
        return missing_left != 0
    return x <= threshold


@compiled
def swapped_raw(X, lo, hi, roots, feature, threshold, missing_left, left, right, is_leaf, value, baseline,
                item_column, item_values, column_start, column_items, max_depth, out_base,
                out_items):  # pragma: no cover - compiled
    """Raw scores of rows ``lo:hi`` of ``X``, into ``out_base[row]``, and of each item's copy, into
    ``out_items[item, row]``.

    The trees' nodes are concatenated: tree ``t`` starts at node ``roots[t]``, and ``left`` / ``right``
    are absolute node numbers. Item ``i`` replaces column ``item_column[i]`` with ``item_values[i, row]``;
    ``column_items[column_start[j]:column_start[j + 1]]`` are the items of column ``j``.
    """
    n_items = item_column.shape[0]
    path = np.empty(max_depth + 1, np.int64)
    decided = np.full(n_items, -1, np.int64)  # the (row, tree) stamp at which each item left the path
    tree_value = np.empty(n_items, np.float64)
    acc = np.empty(n_items, np.float64)
    stamp = 0
    for row in range(lo, hi):
        total = baseline
        for i in range(n_items):
            acc[i] = baseline
        for t in range(roots.shape[0]):
            node = roots[t]
            depth = 0
            while not is_leaf[node]:
                path[depth] = node
                depth += 1
                if _goes_left(X[row, feature[node]], threshold[node], missing_left[node]):
                    node = left[node]
                else:
                    node = right[node]
            leaf_value = value[node]
            total += leaf_value
            for i in range(n_items):
                tree_value[i] = leaf_value
            stamp += 1
            for d in range(depth):
                split = path[d]
                j = feature[split]
                own = _goes_left(X[row, j], threshold[split], missing_left[split])
                for p in range(column_start[j], column_start[j + 1]):
                    i = column_items[p]
                    if decided[i] == stamp:
                        continue
                    v = item_values[i, row]
                    if _goes_left(v, threshold[split], missing_left[split]) == own:
                        continue  # the copy goes the same way here
                    decided[i] = stamp  # the copy leaves the row's path here: walk on with v in column j
                    other = right[split] if own else left[split]
                    while not is_leaf[other]:
                        g = feature[other]
                        x = v if g == j else X[row, g]
                        if _goes_left(x, threshold[other], missing_left[other]):
                            other = left[other]
                        else:
                            other = right[other]
                    tree_value[i] = value[other]
            for i in range(n_items):
                acc[i] += tree_value[i]
        out_base[row] = total
        for i in range(n_items):
            out_items[i, row] = acc[i]


def concatenated_nodes(trees) -> dict:
    """The nodes of scikit-learn's ``TreePredictor`` s as flat arrays for :func:`swapped_raw`."""
    nodes = [tree.nodes for tree in trees]
    sizes = np.array([len(n) for n in nodes], dtype=np.int64)
    roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    offset = np.repeat(roots, sizes)
    allnodes = np.concatenate(nodes)
    return {
        "roots": roots,
        "feature": allnodes["feature_idx"].astype(np.int64),
        "threshold": allnodes["num_threshold"].astype(np.float64),
        "missing_left": allnodes["missing_go_to_left"].astype(np.uint8),
        "left": allnodes["left"].astype(np.int64) + offset,
        "right": allnodes["right"].astype(np.int64) + offset,
        "is_leaf": allnodes["is_leaf"].astype(np.uint8),
        "value": allnodes["value"].astype(np.float64),
        "max_depth": int(allnodes["depth"].max(initial=0)),
    }
