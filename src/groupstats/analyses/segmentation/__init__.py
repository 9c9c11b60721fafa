"""Member segmentation: the segments the data contain, chosen, checked for stability and named.

:class:`MemberSegmentation` is a scikit-learn style estimator fitted on the
member features of :func:`groupstats.tables.features.member_features` (data up to a
cutoff only). Its default, shared by the library, ``groupstats segment`` and the
notebook (:data:`DEFAULT_METHOD`), is the **rate mixture** (:class:`RateMixture`): a
Gaussian mixture on each member's log message rate (and read / sign-in logits when the
data have them) with each value's known measurement noise and an empirical-Bayes level
per group, k chosen by BIC; the result reports the evidence for the chosen k and the
runner-up (:func:`k_evidence`). On a grid of simulated communities (3-6 tiers, weak to
strong overlap, no to strong group effects, 10-120 groups; docs/segmentation.md) it
recovered the planted tiers with mean adjusted Rand index 0.58, against 0.43 for k-means
given the true k and 0.40 for k-means with silhouette (which picks k = 2).

The alternatives ``method="gmm"`` and ``method="kmeans"`` use this pipeline:

1. **prepare** (:class:`MemberFeaturePreparer`): pick the segmentation columns
   (default :data:`SEGMENT_COLUMNS`), fill documented gaps (a member who never
   sent a message has ``recency_days`` = the days he was observed; shares and
   trend of members without messages are 0), then either

   - ``features="within_group"`` (default): percentile ranks within each
     member's group, so a member is "active" relative to his own group, or
   - ``features="raw"``: ``log1p`` of the heavy-tailed counts and rates;

2. **scale** (``StandardScaler``);
3. **cluster**: ``KMeans`` (k chosen by the silhouette score) or a Gaussian
   mixture (k chosen by BIC).

Why within-group by default: groups differ a lot in activity (a factor of
several between a lively and a quiet group). Pooled raw features then sort
*groups* (every member of a lively group looks "active"), while operators act on
members relative to their group. Within-group ranks remove the group level; the
raw option is there for pooled comparisons across groups.

Ties. Many members are silent and share identical feature values. KMeans is fitted
on the distinct rows with their counts as sample weights (the same solution as on
all rows, faster). A Gaussian mixture can put a component on a point mass of
identical rows, where its likelihood grows without bound and the BIC keeps
falling with k; we add a small documented jitter (``jitter`` standard deviations,
default 0.05) to tied rows and floor the covariance (``reg_covar=0.01``), and if
the BIC still falls up to the largest k, we take the knee (the smallest k after
which further decreases are below 10% of the total decrease) and say so.

Stability: the model is refitted with the chosen k on ``n_bootstrap`` bootstrap
resamples of members, each refit labels every member, and the adjusted Rand index
(ARI) with the full-data labels is reported (1 = identical partitions).

Segments are profiled (size, share, medians of the raw features) and named in
plain words from their profile ("core contributors", "silent readers" ...),
ordered from most to least engaged by an engagement score (the mean percentile of
messages per day, active-day share, recency (reversed), read rate and sign-in rate).

Degenerate inputs: a cutoff before any data raises
:class:`~groupstats.errors.InsufficientDataError` (from the features); fewer than
3 distinct feature rows (e.g. all members silent) raises
:class:`~groupstats.errors.InsufficientDataError`; groups with fewer than
``MIN_GROUP_SIZE`` members give a :class:`~groupstats.errors.StatisticalWarning`
in within-group mode (their ranks are coarse: 1/3, 2/3, 1 for 3 members).

Modules: ``preparation`` (settings, feature preparation, engagement score and names),
``rate_mixture`` (the default model), ``estimator`` (MemberSegmentation, choice of k,
segment_members), ``result`` (SegmentationResult). Every name stays importable from
``groupstats.analyses.segmentation``.
"""
from __future__ import annotations

from groupstats.analyses.segmentation.preparation import (SEGMENT_COLUMNS, LOG_COLUMNS, ENGAGEMENT, METHODS,
                                                          DEFAULT_METHOD, DEFAULT_K_RANGE, MIN_GROUP_SIZE,
                                                          PROFILE_COLUMNS, add_derived_columns, _fill,
                                                          MemberFeaturePreparer, engagement_score,
                                                          name_segments)
from groupstats.analyses.segmentation.rate_mixture import (message_rates, _MISSING_VAR, _logit_share,
                                                           rate_measurements, RateMixture)
from groupstats.analyses.segmentation.estimator import _bic_strength, k_evidence, MemberSegmentation, segment_members
from groupstats.analyses.segmentation.result import SegmentationResult, group_association

