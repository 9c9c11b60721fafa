"""Time-split backtest of the churn models at an evaluation cutoff (scoring at a date: :mod:`.scoring`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.errors import ConvergenceError, InsufficientDataError, ParameterError
from groupstats.results import Result, to_jsonable
from groupstats.analyses.churn.labels import (
    ChurnDefinition, DEFAULT_ACTIVITY, DEFAULT_HORIZON_DAYS, KEYS,
    MIN_HISTORY_DAYS, MODELS, N_TRAIN_CUTOFFS, STEP_DAYS, _definition, _fmt, _midnight, churn_data, data_end_day,
)
from groupstats.analyses.churn.features import _Panel, feature_windows
from groupstats.analyses.churn.metrics import (
    _calibration_table, _one_thread, _permutation_importance, classification_metrics, paired_auc_bootstrap,
)
from groupstats.analyses.churn.model import (
    BGNBDChurn, ChurnRiskModel, fit_concurrently, plan_cutoffs,
)


# ======================================================================================
# backtest
# ======================================================================================
@dataclass
class ChurnBacktest(Result):
    """Time-split backtest of churn models at one evaluation cutoff.

    Attributes
    ----------
    metrics : DataFrame
        One row per (model, population): ``n, n_churned, base_rate, roc_auc, pr_auc, brier,
        capture_10, lift_10, capture_20, lift_20``. Populations: ``all`` members present at
        the cutoff, ``active`` = those active in the ``horizon`` days before it.
    calibration : DataFrame
        ``model, population, bin, mean_predicted, observed, n``.
    gain : DataFrame
        The better classifier's ROC AUC gain over recency alone per population, with a
        paired bootstrap CI (clusters = groups).
    importance : DataFrame
        Permutation importance (drop in ROC AUC on the evaluation cutoff) per model/feature.
    predictions : DataFrame
        group_id, member_id, churned, active_before, silent, left and ``risk_<model>``.
    cutoffs : dict
        evaluation, calibration, train.
    """

    definition: ChurnDefinition
    cutoffs: dict
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    gain: pd.DataFrame
    importance: pd.DataFrame
    predictions: pd.DataFrame
    best_model: str
    bgnbd: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    models: dict = field(default_factory=dict, repr=False)
    title: str = "Churn risk: time-split backtest"

    #: the metrics for people (header key, kind of value)
    text_columns = (("model", "churn.col.model", "text"), ("population", "churn.col.population", "text"),
                    ("n", "col.n", "int"), ("base_rate", "churn.col.base_rate", "pct"),
                    ("roc_auc", "churn.col.roc_auc", "num"), ("brier", "churn.col.brier", "num"),
                    ("calibration_intercept", "field.calibration_intercept", "num"),
                    ("calibration_slope", "field.calibration_slope", "num"),
                    ("capture_10", "churn.col.capture_10", "pct"))

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("churnres.backtest_title", self._lang(lang))

    def text_frame(self, lang: str | None = None) -> pd.DataFrame:
        from groupstats.reports.i18n import CATALOGUE, t
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        m = self.metrics.copy()
        m["model"] = [t(f"churn.model.{v}", lang) if f"churn.model.{v}" in CATALOGUE else v for v in m["model"]]
        m["population"] = [t(f"churn.pop.{v}", lang) if f"churn.pop.{v}" in CATALOGUE else v
                           for v in m["population"]]
        return format_frame(m, [c for c in self.text_columns if c[0] in m], lang)

    def to_frame(self) -> pd.DataFrame:
        return self.metrics.copy()

    def to_dict(self) -> dict:
        return to_jsonable({
            "title": self.title, "definition": self.definition.kind, "horizon_days": self.definition.horizon,
            "activity": list(self.definition.activity), "describe": self.definition.describe(),
            "cutoffs": {"evaluation": self.cutoffs["evaluation"], "mode": self.cutoffs.get("mode", "time_split"),
                        "calibration": self.cutoffs["calibration"], "train": self.cutoffs["train"]},
            "best_model": self.best_model, "metrics": self.metrics, "gain_over_recency": self.gain,
            "calibration": self.calibration, "importance": self.importance, "bgnbd": self.bgnbd,
            "notes": self.notes, "conclusion": self.conclusion()})

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import CATALOGUE, fmt_num, fmt_pct, join, note_text, t

        lang = self._lang(lang)
        m = self.metrics.set_index(["model", "population"])
        e = self.cutoffs["evaluation"]

        def model_name(name) -> str:
            return t(f"churn.model.{name}", lang) if lang != "en" and f"churn.model.{name}" in CATALOGUE else name

        calibrated = (t("churnbt.calibrated_on", lang, date=_fmt(self.cutoffs["calibration"]))
                      if self.cutoffs["calibration"] is not None else t("churnbt.cross_fitted", lang))
        lines = [t("churnbt.intro", lang, definition=churn_definition_text(self.definition, lang),
                   train=join([_fmt(c) for c in self.cutoffs["train"]], lang), calibrated=calibrated, date=_fmt(e),
                   outcomes=_fmt(e + pd.Timedelta(days=self.definition.horizon)))]
        for pop in ("active", "all"):
            if (self.best_model, pop) not in m.index:
                continue
            row = m.loc[(self.best_model, pop)]
            rec = m.loc[("recency", pop)] if ("recency", pop) in m.index else None
            g = self.gain.loc[self.gain["population"] == pop]
            text = t("churnbt.on", lang, population=t(f"churnbt.pop.{pop}", lang, days=self.definition.horizon),
                     n=fmt_num(int(row["n"]), lang), share=fmt_pct(row["base_rate"], lang, digits=0),
                     model=model_name(self.best_model), auc=f"{row['roc_auc']:.2f}")
            if rec is not None:
                text += t("churnbt.vs_recency", lang, auc=f"{rec['roc_auc']:.2f}")
            if len(g):
                gr = g.iloc[0]
                verdict = "gain" if gr["ci_low"] > 0 else ("worse" if gr["ci_high"] < 0 else "same")
                text += t("churnbt.gain", lang, delta=f"{gr['delta']:+.3f}", low=f"{gr['ci_low']:+.3f}",
                          high=f"{gr['ci_high']:+.3f}", verdict=t(f"churnbt.verdict.{verdict}", lang))
            if ("bgnbd", pop) in m.index:
                text += t("churnbt.bgnbd", lang, auc=f"{m.loc[('bgnbd', pop)]['roc_auc']:.2f}")
            text += t("churnbt.capture", lang, capture=fmt_pct(row["capture_10"], lang, digits=0),
                      lift=f"{row['lift_10']:.1f}")
            lines.append(text)
        lines += [note_text(x, lang) for x in self.notes]
        return "\n".join(lines)


def _evaluate(definition: ChurnDefinition, panel: _Panel, eval_cut: pd.Timestamp, fitted: dict,
              bgnbd_scores: np.ndarray | None, n_boot: int, random_state: int, importance_repeats: int,
              plan: dict, notes: list, on_best=None) -> ChurnBacktest:
    frame = panel.frame(eval_cut, panel.end)
    preds = frame[[*KEYS, "churned", "active_before", "silent", "left"]].copy()
    for name, model in fitted.items():
        preds[f"risk_{name}"] = model.predict_proba_frame(frame)
    if bgnbd_scores is not None:
        preds["risk_bgnbd"] = bgnbd_scores
    model_names = [c.removeprefix("risk_") for c in preds.columns if c.startswith("risk_")]
    rows, calib = [], []
    pops = {"all": np.ones(len(preds), bool), "active": preds["active_before"].to_numpy()}
    for name in model_names:
        for pop, mask in pops.items():
            y = preds.loc[mask, "churned"].to_numpy(int)
            p = preds.loc[mask, f"risk_{name}"].to_numpy(float)
            rows.append({"model": name, "population": pop, **classification_metrics(y, p)})
            c = _calibration_table(y, p)
            c.insert(0, "population", pop)
            c.insert(0, "model", name)
            calib.append(c)
    metrics = pd.DataFrame(rows)
    active_auc = metrics.loc[(metrics["population"] == "active") & metrics["model"].isin(["logistic", "hgb"])]
    active_auc = active_auc.dropna(subset=["roc_auc"])
    if len(active_auc):
        best = str(active_auc.sort_values("roc_auc", ascending=False)["model"].iloc[0])
    else:
        cands = [m for m in ("hgb", "logistic") if m in fitted]
        best = cands[0] if cands else model_names[0]
    if on_best is not None:  # (churn_risk starts the scoring model's fit while the bootstrap and importance run)
        on_best(best)
    gains = []
    if "recency" in model_names and best != "recency":
        for pop, mask in pops.items():
            y = preds.loc[mask, "churned"].to_numpy(int)
            if 0 < y.sum() < len(y):
                b = paired_auc_bootstrap(y, preds.loc[mask, f"risk_{best}"], preds.loc[mask, "risk_recency"],
                                         clusters=preds.loc[mask, "group_id"], n_boot=n_boot,
                                         random_state=random_state)
                gains.append({"model": best, "baseline": "recency", "population": pop, **b})
    gain = pd.DataFrame(gains, columns=["model", "baseline", "population", "auc_a", "auc_b", "delta", "ci_low",
                                        "ci_high", "se", "n_boot", "n_clusters"])
    importance = []
    y_all = frame["churned"].to_numpy(int)
    if importance_repeats > 0 and 0 < y_all.sum() < len(y_all) and best in fitted:
        importance.append(_permutation_importance(fitted[best], frame, y_all, importance_repeats, random_state)
                          .assign(model=best))
    importance = (pd.concat(importance, ignore_index=True)[["model", "feature", "importance_mean",
                                                             "importance_sd"]]
                  if importance else pd.DataFrame(columns=["model", "feature", "importance_mean", "importance_sd"]))
    cutoffs = {"evaluation": eval_cut, "mode": plan["mode"], "calibration": plan["calibration"],
               "train": plan["train"], "history_needed_days": plan["history_needed_days"],
               "feature_windows": dict(panel.windows)}
    return ChurnBacktest(definition=definition, cutoffs=cutoffs, metrics=metrics,
                         calibration=pd.concat(calib, ignore_index=True), gain=gain,
                         importance=importance.reset_index(drop=True), predictions=preds, best_model=best,
                         notes=notes, models=fitted)


def _fit_all(ds_or_panel: _Panel, definition: ChurnDefinition, cutoff: pd.Timestamp, models, n_train_cutoffs,
             step_days, min_history_days, random_state, notes: list):
    """The backtest's models fitted for ``cutoff``: the classifiers in threads at once while this thread
    fits BG/NBD (:func:`fit_concurrently`; the same fitted models as one after another)."""
    panel = ds_or_panel
    frames: dict = {}  # the training and calibration frames, built once for all the models
    names = [name for name in models if name != "bgnbd"]
    classifiers = [ChurnRiskModel(name, definition.horizon, definition.kind, definition.activity, n_train_cutoffs,
                                  step_days, min_history_days, random_state=random_state) for name in names]

    def bgnbd():
        feats = panel.features(cutoff)
        try:
            bg = BGNBDChurn(definition.horizon).fit(feats)
            info = {"params": bg.params_.to_dict(), "n_fit": bg.n_fit_, "fitted_at": cutoff,
                    "boundary_fit": bg.boundary_, "score": f"P(no activity in {definition.horizon} days)"}
            return bg, bg.predict_no_activity(feats), info
        except (ConvergenceError, InsufficientDataError) as exc:
            notes.append(f"BG/NBD could not be fitted at {_fmt(cutoff)}: {exc}")
            return None, None, {}

    panel.features(cutoff)  # (in this thread, before the fits start)
    fitted_list, bg = fit_concurrently(classifiers, panel.ds, cutoff, panel, frames,
                                       meanwhile=bgnbd if "bgnbd" in models else None)
    fitted = dict(zip(names, fitted_list))
    bg_model, bg_scores, bg_info = bg if bg is not None else (None, None, {})
    if bg_model is not None:
        fitted["_bgnbd"] = bg_model
    return fitted, bg_scores, bg_info


def _plan_cutoffs(plan: dict, evaluation: pd.Timestamp | None = None) -> list:
    """The labelled cutoffs a plan uses (training, calibration and ``evaluation`` if given)."""
    cuts = [*plan["train"], *([] if plan["calibration"] is None else [plan["calibration"]])]
    return cuts + ([] if evaluation is None else [evaluation])


def backtest(ds, cutoff=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
             activity=DEFAULT_ACTIVITY, models=MODELS, n_train_cutoffs: int = N_TRAIN_CUTOFFS,
             step_days: int = STEP_DAYS, min_history_days: int = MIN_HISTORY_DAYS, n_boot: int = 1000,
             importance_repeats: int = 3, random_state: int = 0, _panel: _Panel | None = None,
             _on_best=None) -> ChurnBacktest:
    """Time-split backtest: fit with data up to ``cutoff``, judge on what happened after it.

    Parameters
    ----------
    ds : Dataset
    cutoff : date, optional
        Evaluation cutoff; default the latest one with a full horizon of outcomes
        (end of data - horizon). Models are trained on earlier cutoffs whose horizon ends
        by it and calibrated on ``cutoff - horizon`` (see :func:`plan_cutoffs`).
    horizon, definition, activity
        See :class:`ChurnDefinition`.
    models : sequence of {"recency", "logistic", "hgb", "bgnbd"}
    n_boot : int, default 1000
        Bootstrap replicates (clusters = groups) for the gain over recency.
    importance_repeats : int, default 5
        Permutation-importance repeats (0 to skip).

    Returns
    -------
    ChurnBacktest
    """
    d = _definition(definition, horizon, activity)
    ds = churn_data(ds)
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ParameterError(f"Unknown model(s) {sorted(unknown)}; choose from {', '.join(MODELS)}.")
    end = _panel.end if _panel is not None else data_end_day(ds)
    eval_cut = (end - pd.Timedelta(days=d.horizon)) if cutoff is None else _midnight(ds, cutoff)
    if eval_cut + pd.Timedelta(days=d.horizon) > end:
        raise InsufficientDataError(
            f"A backtest at {_fmt(eval_cut)} needs outcomes to {_fmt(eval_cut + pd.Timedelta(days=d.horizon))}, but "
            f"the data end on {_fmt(end)}. Use a cutoff on or before "
            f"{_fmt(end - pd.Timedelta(days=d.horizon))}.")
    plan = plan_cutoffs(ds, eval_cut, d.horizon, n_train_cutoffs, step_days, min_history_days)
    panel = _panel if _panel is not None else _Panel(ds, d, feature_windows(plan["history_days"]))
    panel.prefetch(_plan_cutoffs(plan, eval_cut), _plan_cutoffs(plan, eval_cut))
    notes: list = []
    with _one_thread():  # member-level models: BLAS threads cost more than they save (see _one_thread)
        fitted, bg_scores, bg_info = _fit_all(panel, d, eval_cut, models, n_train_cutoffs, step_days,
                                              min_history_days, random_state, notes)
        bg_model = fitted.pop("_bgnbd", None)
        result = _evaluate(d, panel, eval_cut, fitted, bg_scores, n_boot, random_state, importance_repeats,
                           plan, notes, _on_best)
    result.bgnbd = bg_info
    if bg_model is not None:
        result.models["bgnbd"] = bg_model
    return result


# ======================================================================================
# scoring at a date (what the CLI and notebook call)
# ======================================================================================
def _catalogue():
    from groupstats.reports.i18n import CATALOGUE

    return CATALOGUE


def churn_definition_text(definition: ChurnDefinition, lang: str) -> str:
    """What churn means here, in ``lang`` (:meth:`ChurnDefinition.describe` is the English)."""
    from groupstats.reports.i18n import t

    if lang == "en" or tuple(definition.activity) != ("message",):
        return definition.describe()
    return t(f"churnres.def.{definition.kind}", lang, days=definition.horizon)
