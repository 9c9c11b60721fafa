"""Health thresholds: the editable YAML file and how a value is judged against it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from groupstats.analyses.health.metrics import HEALTH_METRICS
from groupstats.errors import ParameterError
from groupstats.paths import PRESETS_DIR, read_preset_copy

DEFAULT_THRESHOLDS_FILE = PRESETS_DIR / "health_thresholds.yaml"

STATUS_ORDER = {"n/a": -1, "ok": 0, "warning": 1, "alert": 2}


def load_thresholds(path=None) -> dict:
    """Read and check a thresholds YAML file (default: the shipped defaults).

    Returns
    -------
    dict with keys ``silent_days`` (int), ``thresholds`` ({metric: {healthy, warning, alert,
    source, note}}) and ``file``.
    """
    file = Path(path) if path is not None else DEFAULT_THRESHOLDS_FILE
    raw = read_preset_copy(file, "Thresholds file", DEFAULT_THRESHOLDS_FILE)
    if not isinstance(raw, dict) or not isinstance(raw.get("thresholds"), dict):
        raise ParameterError(f"Thresholds file {file} needs a 'thresholds:' section mapping metric names to "
                             f"levels (see {DEFAULT_THRESHOLDS_FILE}).")
    silent_days = raw.get("silent_days", 3)
    if not isinstance(silent_days, int) or silent_days < 1:
        raise ParameterError(f"{file}: silent_days must be a whole number >= 1, got {silent_days!r}.")
    out = {}
    for metric, spec in raw["thresholds"].items():
        if metric not in HEALTH_METRICS:
            raise ParameterError(f"{file}: unknown metric {metric!r}; metrics that can be judged: "
                                 f"{', '.join(HEALTH_METRICS)}.")
        if not isinstance(spec, dict):
            raise ParameterError(f"{file}: {metric} needs 'healthy', 'warning' and/or 'alert' entries.")
        healthy = spec.get("healthy")
        if healthy not in ("above", "below"):
            raise ParameterError(f"{file}: {metric}.healthy must be 'above' or 'below', got {healthy!r}.")
        levels = {}
        for level in ("warning", "alert"):
            value = spec.get(level)
            if value is not None and not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ParameterError(f"{file}: {metric}.{level} must be a number or empty, got {value!r}.")
            levels[level] = None if value is None else float(value)
        if levels["warning"] is None and levels["alert"] is None:
            raise ParameterError(f"{file}: {metric} has neither a warning nor an alert level.")
        w, a = levels["warning"], levels["alert"]
        if w is not None and a is not None and ((healthy == "above" and a > w) or (healthy == "below" and a < w)):
            raise ParameterError(f"{file}: {metric}: with healthy '{healthy}' the alert level ({a:g}) must be "
                                 f"{'below' if healthy == 'above' else 'above'} the warning level ({w:g}).")
        out[metric] = {"healthy": healthy, **levels, "source": spec.get("source"), "note": spec.get("note")}
    return {"silent_days": silent_days, "thresholds": out, "file": str(file)}


def _judge(values: np.ndarray, spec: dict) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    status = np.where(np.isnan(v), "n/a", "ok").astype(object)
    w, a = spec["warning"], spec["alert"]
    if spec["healthy"] == "above":
        if w is not None:
            status[~np.isnan(v) & (v < w)] = "warning"
        if a is not None:
            status[~np.isnan(v) & (v < a)] = "alert"
    else:
        if w is not None:
            status[~np.isnan(v) & (v > w)] = "warning"
        if a is not None:
            status[~np.isnan(v) & (v > a)] = "alert"
    return status
