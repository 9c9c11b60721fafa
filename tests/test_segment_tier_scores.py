"""Tiers vs segments: the adjusted Rand index and adjusted mutual information computed from integer codes
are exactly sklearn's scores on the string labels (the same contingency table in the same order)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from groupstats.analyses.tiers import compare_tiers_segments

TIERS = np.array(["core", "regular", "casual", "lurker", "new"])


@pytest.mark.parametrize("seed,n,n_tiers,n_segments,agree", [
    (0, 40, 3, 5, 0.5), (1, 900, 5, 7, 0.8), (2, 3000, 2, 2, 0.1), (3, 500, 4, 3, 1.0), (4, 200, 5, 8, 0.0)])
def test_scores_equal_sklearns_on_the_string_labels(seed, n, n_tiers, n_segments, agree):
    rng = np.random.default_rng(seed)
    tier = rng.integers(0, n_tiers, n)
    segment = np.where(rng.random(n) < agree, tier % n_segments, rng.integers(0, n_segments, n))
    tiers = pd.Series(TIERS[tier], dtype=object)
    tiers[rng.random(n) < 0.05] = None  # members without a tier are left out of both scores
    result = compare_tiers_segments(tiers, segment)
    ok = tiers.notna().to_numpy()
    t, s = tiers[ok].astype(str), pd.Series(segment[ok].astype(object)).astype(str)
    assert result.ari == float(adjusted_rand_score(t, s))
    assert result.ami == float(adjusted_mutual_info_score(t, s))
    assert int(result.crosstab.to_numpy().sum()) == int(ok.sum())
    if agree == 1.0 and n_tiers <= n_segments:
        assert result.ari == pytest.approx(1.0)
