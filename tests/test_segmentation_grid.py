"""Segmentation on a grid of simulated communities (tests/segmentation_grid.py, not the bundled simulator).

The grid crosses 3-6 tiers, weak / moderate / strong overlap, no / moderate / strong group effects
and 10 / 40 / 120 groups in 18 cells (two Latin squares over overlap x group effect x number of
groups, with the number of tiers rotating). The default segmentation (the rate mixture, k by BIC)
must recover the planted tiers with mean adjusted Rand index >= 0.5 (in each square, hence over the
grid) and beat k-means given the true k on log message counts in most cells. benchmarks/segmentation_grid.py prints the table
recorded in docs/segmentation.md.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from groupstats.analyses.segmentation import DEFAULT_METHOD, MemberSegmentation
from groupstats.errors import StatisticalWarning
from segmentation_grid import simulate_tier_features

OVERLAP = {"weak": 0.2, "moderate": 0.35, "strong": 0.5}
GROUP_EFFECT = {"none": 0.0, "moderate": 0.5, "strong": 1.0}
N_GROUPS = (10, 40, 120)


def grid_cells(n_groups=N_GROUPS):
    """18 cells: (n_tiers, overlap name, group-effect name, n_groups, seed)."""
    cells = []
    for rep in range(2):
        for i, ov in enumerate(OVERLAP):
            for j, ge in enumerate(GROUP_EFFECT):
                cells.append((3 + (i + 2 * j + 2 * rep) % 4, ov, ge, n_groups[(i + j + rep) % 3], 100 + len(cells)))
    return cells


def run_cell(n_tiers, overlap, group_effect, n_groups, seed):
    feats, tier = simulate_tier_features(n_tiers, OVERLAP[overlap], GROUP_EFFECT[group_effect], n_groups, seed,
                                         members_per_group=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        seg = MemberSegmentation(n_bootstrap=0).fit(feats)
    with threadpool_limits(1):
        km = KMeans(n_tiers, n_init=4, random_state=0).fit_predict(np.log1p(feats[["messages_total"]].to_numpy(float)))
    return {"n_members": len(feats), "k": seg.k_, "ari": adjusted_rand_score(tier, seg.labels_),
            "ari_kmeans_true_k": adjusted_rand_score(tier, km)}


@pytest.mark.slow
@pytest.mark.parametrize("square", [0, 1])
def test_default_segmentation_recovers_planted_tiers_across_the_grid(square):
    """Each Latin square (9 cells) is a full design over overlap x group effect x groups; the two run on
    both test workers, and together they make the 18-cell grid (mean ARI >= 0.5 in each, so over the grid)."""
    assert DEFAULT_METHOD == "rate_mixture"
    cells = grid_cells()[9 * square: 9 * square + 9]
    # the square covers every level of overlap, group effect and groups, and 3 to 6 tiers
    assert {c[1] for c in cells} == set(OVERLAP) and {c[2] for c in cells} == set(GROUP_EFFECT)
    assert {c[3] for c in cells} == set(N_GROUPS) and {c[0] for c in grid_cells()} == {3, 4, 5, 6}
    assert len({(c[1], c[2]) for c in cells}) == 9 and len({(c[1], c[3]) for c in cells}) == 9
    rows = [run_cell(*c) for c in cells]
    ari = np.array([r["ari"] for r in rows])
    base = np.array([r["ari_kmeans_true_k"] for r in rows])
    table = "\n".join(f"{c} -> {r}" for c, r in zip(cells, rows))
    assert ari.mean() >= 0.5, table
    assert (ari > base).sum() >= 6, table  # most cells (we saw all 9 in each square)
    assert ari.mean() > base.mean() + 0.08, table
    assert ari.min() > 0.25, table
    # k is read from the data: not the k = 2 of silhouette everywhere, and more tiers -> larger k on average
    ks = np.array([r["k"] for r in rows])
    tiers = np.array([c[0] for c in cells])
    assert (ks >= 3).mean() >= 0.6, table
    assert ks[tiers >= 5].mean() > ks[tiers == 3].mean(), table
    # where group effects are strong, k-means on pooled counts sorts groups; the mixture does not
    strong = np.array([c[2] == "strong" for c in cells])
    assert (ari[strong] - base[strong]).min() > 0, table
