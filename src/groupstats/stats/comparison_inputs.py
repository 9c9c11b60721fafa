"""Input validation, the per-arm summary table and the sample-ratio-mismatch check of the
comparison engine, and the reader of a tidy file of units."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from groupstats.errors import ParameterError
from groupstats.stats.comparison_common import (CORRECTIONS, KINDS, METHODS, SRM_P_THRESHOLD, _Data,
                                                _finite)

_READERS = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"),
            ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def read_unit_table(path) -> pd.DataFrame:
    """A tidy CSV/TSV/Parquet file, one row per unit; a missing file or another extension is a
    :class:`~groupstats.errors.ParameterError` naming the file."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise ParameterError(f"File {path} does not exist; pass the path of a CSV or Parquet table.")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ParameterError(f"File {path} has an unsupported extension '{path.suffix}'; use .csv, .tsv or .parquet.")
    return reader(path)


def _native(value):
    """numpy scalars -> Python scalars, so labels print as 1, not np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value


def _arm_labels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [_native(v) for v in series.cat.categories]
    values = [_native(v) for v in pd.unique(series)]
    try:
        return sorted(values)
    except TypeError:
        return values


def _match_label(value, labels: list):
    for lab in labels:
        if lab == value:
            return lab
    for lab in labels:
        if str(lab) == str(value):
            return lab
    return None


def _validate_params(kind, correction, method, alpha, n_boot, denominator, cluster):
    if kind not in KINDS:
        raise ParameterError(f"kind={kind!r} is not supported; use one of {', '.join(KINDS)}.")
    if correction not in CORRECTIONS:
        raise ParameterError(f"correction={correction!r} is not supported; use one of "
                             f"{', '.join(CORRECTIONS)}.")
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is not supported; use one of {', '.join(METHODS)}.")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ParameterError(f"alpha must be a number between 0 and 1 (got {alpha!r}); e.g. 0.05.")
    if kind == "ratio" and denominator is None:
        raise ParameterError("kind='ratio' needs denominator= (the column summed below the metric, "
                             "e.g. views), because the ratio is sum(metric) / sum(denominator) per arm.")
    if kind != "ratio" and denominator is not None:
        raise ParameterError(f"denominator= is only used with kind='ratio' (got kind={kind!r}); "
                             "drop it or set kind='ratio'.")
    if method == "negbin" and kind != "count":
        raise ParameterError("method='negbin' (negative binomial) applies to kind='count' only.")
    if method == "model" and cluster is not None:
        raise ParameterError("method='model' ignores clustering and would understate the standard "
                             "errors; with cluster= use method='cr2' (default) or 'cr1'/'bootstrap'.")
    if method == "wild" and cluster is None:
        raise ParameterError("method='wild' (wild cluster bootstrap) needs cluster=; without clusters use "
                             "method='cr2' (HC2) or 'bootstrap'.")
    if method == "wild" and kind == "count":
        raise ParameterError("method='wild' applies to linear models (kind='mean', 'proportion', 'ratio'); "
                             "for counts use method='cr2' (default) or 'negbin'.")
    if method in ("bootstrap", "wild") and (not isinstance(n_boot, (int, np.integer)) or n_boot < 100):
        raise ParameterError(f"n_boot must be an integer >= 100 (got {n_boot!r}); 2000 is a good default.")


def _prepare(frame, arm, metric, kind, denominator, control, cluster, covariate,
             fixed_effects) -> _Data:
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame must be a pandas DataFrame (got {type(frame).__name__}).")
    needed = {"arm": arm, "metric": metric, "denominator": denominator, "cluster": cluster,
              "covariate": covariate}
    cols = [(role, c) for role, c in needed.items() if c is not None]
    cols += [("fixed_effects", c) for c in fixed_effects]
    missing = [f"'{c}' ({role})" for role, c in cols if c not in frame.columns]
    if missing:
        raise ParameterError(f"Column(s) {', '.join(missing)} not found in the table; available "
                             f"columns: {', '.join(map(str, frame.columns))}.")
    arm_col = frame[arm]
    if arm_col.isna().any():
        raise ParameterError(f"Arm column '{arm}' has {int(arm_col.isna().sum())} missing value(s); "
                             "drop or label those rows before comparing.")
    labels = _arm_labels(arm_col)
    present = set(pd.unique(arm_col))
    empty = [lab for lab in labels if lab not in present]
    if empty:
        raise ParameterError(f"Arm(s) {empty} of column '{arm}' have no rows; remove the unused "
                             "categories or collect data for them.")
    if len(labels) < 2:
        raise ParameterError(f"Column '{arm}' has fewer than 2 arms ({labels}); a comparison needs "
                             "a control and at least one other arm.")
    if control is None:
        control_label = labels[0]
    else:
        control_label = _match_label(control, labels)
        if control_label is None:
            raise ParameterError(f"Control arm {control!r} is not present in column '{arm}'; "
                                 f"arms present: {labels}.")
    labels = [control_label] + [lab for lab in labels if lab != control_label]
    codes = np.full(len(frame), -1, dtype=np.int64)
    values = arm_col.to_numpy()
    for i, lab in enumerate(labels):
        codes[values == lab] = i

    def numeric(col: str, role: str) -> np.ndarray:
        series = frame[col]
        if series.dtype == bool:
            series = series.astype(float)
        if not pd.api.types.is_numeric_dtype(series):
            raise ParameterError(f"{role} column '{col}' must be numeric (got dtype {series.dtype}).")
        out = series.to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(out)
        if bad.any():
            per_arm = ", ".join(f"arm {labels[a]!r}: {int(bad[codes == a].sum())}"
                                for a in range(len(labels)) if bad[codes == a].any())
            raise ParameterError(f"{role} column '{col}' has {int(bad.sum())} missing (NaN) value(s) "
                                 f"({per_arm}); drop or impute those rows before comparing.")
        return out

    y = numeric(metric, "Metric")
    if kind == "proportion":
        nonbinary = ~np.isin(y, (0.0, 1.0))
        if nonbinary.any():
            example = pd.unique(y[nonbinary])[:5].tolist()
            raise ParameterError(f"kind='proportion' needs a 0/1 metric, but '{metric}' has "
                                 f"{int(nonbinary.sum())} other value(s), e.g. {example}; use "
                                 "kind='mean' or recode the metric to 0/1.")
    if kind == "count" and (y < 0).any():
        raise ParameterError(f"kind='count' needs non-negative counts, but '{metric}' has "
                             f"{int((y < 0).sum())} negative value(s); use kind='mean' instead.")
    d = None
    if kind == "ratio":
        d = numeric(denominator, "Denominator")
        if (d < 0).any():
            raise ParameterError(f"Denominator column '{denominator}' has {int((d < 0).sum())} "
                                 "negative value(s); a ratio of sums needs non-negative denominators.")
        for a, lab in enumerate(labels):
            if d[codes == a].sum() <= 0:
                raise ParameterError(f"Denominator '{denominator}' sums to zero in arm {lab!r}, so "
                                     "its ratio is undefined; check the data of that arm.")
    clus = None
    if cluster is not None:
        ccol = frame[cluster]
        if ccol.isna().any():
            raise ParameterError(f"Cluster column '{cluster}' has {int(ccol.isna().sum())} missing "
                                 "value(s); every row needs its cluster (e.g. group id).")
        clus = pd.factorize(ccol)[0].astype(np.int64)
    cov = numeric(covariate, "Covariate") if covariate is not None else None
    fe = None
    if fixed_effects:
        fe = frame[list(fixed_effects)]
        for col in fixed_effects:
            if fe[col].isna().any():
                raise ParameterError(f"Fixed-effect column '{col}' has {int(fe[col].isna().sum())} "
                                     "missing value(s).")
        fe = fe.reset_index(drop=True)
    return _Data(labels=labels, codes=codes, y=y, d=d, cluster=clus, covariate=cov, fe=fe)


# --------------------------------------------------------------------------- summaries
def _arm_table(data: _Data, kind: str, cluster: str | None) -> pd.DataFrame:
    rows = []
    for a, lab in enumerate(data.labels):
        mask = data.codes == a
        y = data.y[mask]
        row = {"arm": lab, "n_units": int(mask.sum()),
               "n_clusters": int(len(np.unique(data.cluster[mask]))) if data.cluster is not None
               else pd.NA}
        if kind == "ratio":
            row["mean"] = y.sum() / data.d[mask].sum()
            row["metric_total"] = y.sum()
            row["denominator_total"] = data.d[mask].sum()
        else:
            row["mean"] = y.mean()
            row["std"] = y.std(ddof=1) if len(y) > 1 else np.nan
        if data.covariate is not None:
            row["covariate_mean"] = data.covariate[mask].mean()
        rows.append(row)
    out = pd.DataFrame(rows)
    out["n_clusters"] = out["n_clusters"].astype("Int64")
    out["arm"] = pd.Series([r["arm"] for r in rows], dtype=object)
    return out


def _nested(data: _Data) -> bool:
    """True when every cluster contains a single arm (cluster-randomised design)."""
    if data.cluster is None:
        return False
    pairs = pd.DataFrame({"c": data.cluster, "a": data.codes}).drop_duplicates()
    return bool(pairs["c"].is_unique)


def _srm(data: _Data, expected_ratio, allocation) -> dict:
    """Chi-square goodness of fit of the randomised unit counts to the planned allocation."""
    labels = data.labels
    if allocation is not None:
        observed = _per_arm_values(allocation, labels, "allocation")
        unit = "allocated units"
    elif data.cluster is not None and _nested(data):
        observed = np.array([len(np.unique(data.cluster[data.codes == a]))
                             for a in range(len(labels))], dtype=float)
        unit = "clusters"
    else:
        observed = np.bincount(data.codes, minlength=len(labels)).astype(float)
        unit = "rows"
    if expected_ratio is None:
        ratio = np.ones(len(labels))
    else:
        ratio = _per_arm_values(expected_ratio, labels, "expected_ratio")
        if (ratio <= 0).any():
            raise ParameterError("expected_ratio must be positive for every arm.")
    if (observed < 0).any():
        raise ParameterError("allocation counts must be non-negative.")
    expected = ratio / ratio.sum() * observed.sum()
    if observed.sum() > 0:
        stat, p = sps.chisquare(observed, expected)
    else:
        stat, p = np.nan, np.nan
    ok = bool(not (p < SRM_P_THRESHOLD)) if _finite(p) else True
    return {"p_value": float(p), "ok": ok, "statistic": float(stat),
            "observed": {lab: float(o) for lab, o in zip(labels, observed)},
            "expected": {lab: float(e) for lab, e in zip(labels, expected)},
            "unit": unit, "threshold": SRM_P_THRESHOLD}


def _per_arm_values(values, labels: list, name: str) -> np.ndarray:
    """Per-arm numbers from a dict {arm: x} or a list in sorted-arm order."""
    if isinstance(values, dict):
        out = []
        keyed = {}
        for key, val in values.items():
            lab = _match_label(key, labels)
            if lab is None:
                raise ParameterError(f"{name} names arm {key!r}, which has no rows; arms present: "
                                     f"{labels}.")
            keyed[lab] = float(val)
        missing = [lab for lab in labels if lab not in keyed]
        if missing:
            raise ParameterError(f"{name} gives no value for arm(s) {missing}; give one per arm.")
        out = [keyed[lab] for lab in labels]
        return np.asarray(out, dtype=float)
    seq = list(values)
    if len(seq) != len(labels):
        raise ParameterError(f"{name} has {len(seq)} value(s) but there are {len(labels)} arms; a "
                             "list is read in sorted arm order, or pass a dict {arm: value}.")
    try:
        order = sorted(labels)
    except TypeError:
        order = list(labels)
    by_label = dict(zip(order, seq))
    return np.asarray([float(by_label[lab]) for lab in labels], dtype=float)
