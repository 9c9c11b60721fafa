"""Segmentation on the grid of simulated communities of tests/test_segmentation_grid.py, as a table.

    .venv/bin/python benchmarks/segmentation_grid.py            # the 18 cells of the test (two Latin squares)
    .venv/bin/python benchmarks/segmentation_grid.py --full     # every combination (4 x 3 x 3 x 3 = 108 cells)

For each cell: the planted tiers' adjusted Rand index (ARI) with the default segmentation
(rate mixture, k by BIC), with k-means given the true k on log message counts, with the former CLI
default (k-means on within-group ranks, k by silhouette) and with a Gaussian mixture on within-group
ranks (k by BIC, the former notebook default); k chosen, and the BIC runner-up. Accuracy, not
timing: the numbers are recorded in docs/segmentation.md.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from segmentation_grid import simulate_tier_features  # noqa: E402
from test_segmentation_grid import GROUP_EFFECT, N_GROUPS, OVERLAP, grid_cells  # noqa: E402

from groupstats.analyses.segmentation import MemberSegmentation  # noqa: E402


def run(cells) -> pd.DataFrame:
    rows = []
    for n_tiers, overlap, group_effect, n_groups, seed in cells:
        feats, tier = simulate_tier_features(n_tiers, OVERLAP[overlap], GROUP_EFFECT[group_effect], n_groups, seed,
                                             members_per_group=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = MemberSegmentation(n_bootstrap=0).fit(feats)
            old = MemberSegmentation(method="kmeans", n_bootstrap=0).fit(feats)
            gmm = MemberSegmentation(method="gmm", n_bootstrap=0).fit(feats)
        with threadpool_limits(1):
            km = KMeans(n_tiers, n_init=4, random_state=0).fit_predict(
                np.log1p(feats[["messages_total"]].to_numpy(float)))
        ev = seg.evidence_
        rows.append({"tiers": n_tiers, "overlap": overlap, "group_effect": group_effect, "groups": n_groups,
                     "members": len(feats), "k": seg.k_,
                     "runner_up": ev["runner_up"]["k"] if ev.get("runner_up") else None,
                     "delta_bic": round(ev.get("delta", np.nan), 1),
                     "ari": adjusted_rand_score(tier, seg.labels_),
                     "ari_kmeans_true_k": adjusted_rand_score(tier, km),
                     "ari_old_cli_kmeans_silhouette": adjusted_rand_score(tier, old.labels_), "k_old": old.k_,
                     "ari_gmm_within_ranks": adjusted_rand_score(tier, gmm.labels_), "k_gmm": gmm.k_})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--full" in argv:
        cells = [(t, o, g, n, 1000 + i) for i, (t, o, g, n) in enumerate(
            (t, o, g, n) for t in (3, 4, 5, 6) for o in OVERLAP for g in GROUP_EFFECT for n in N_GROUPS)]
    else:
        cells = grid_cells()
    table = run(cells)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    print(f"\nmean ARI: default {table['ari'].mean():.3f}, k-means true k {table['ari_kmeans_true_k'].mean():.3f}, "
          f"old CLI default {table['ari_old_cli_kmeans_silhouette'].mean():.3f}, "
          f"GMM on within-group ranks {table['ari_gmm_within_ranks'].mean():.3f}; default beats k-means with the "
          f"true k in {(table['ari'] > table['ari_kmeans_true_k']).sum()} of {len(table)} cells")
    for col in ("overlap", "group_effect", "groups", "tiers"):
        print(table.groupby(col)[["ari", "ari_kmeans_true_k", "ari_old_cli_kmeans_silhouette"]].mean().round(3)
              .to_string())


if __name__ == "__main__":
    main()
