"""Time-split backtest and scoring at a date (what the CLI and notebook call)."""
from __future__ import annotations

import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.errors import ConvergenceError, InsufficientDataError, ParameterError
from groupstats.results import Result, to_jsonable
from groupstats.analyses.churn.labels import (
    CHURN_WINDOWS, ChurnDefinition, DEFAULT_ACTIVITY, DEFAULT_HORIZON_DAYS, KEYS, MEMBER_WINDOWS,
    MIN_HISTORY_DAYS, MODELS, N_TRAIN_CUTOFFS, STEP_DAYS, _definition, _fmt, _midnight, churn_data, data_end_day,
)
from groupstats.analyses.churn.features import _Panel, feature_windows
from groupstats.analyses.churn.metrics import (
    _calibration_table, _one_thread, _permutation_importance, classification_metrics, paired_auc_bootstrap,
)
from groupstats.analyses.churn.model import (
    AveragedChurnModel, BGNBDChurn, ChurnRiskModel, fit_concurrently, plan_cutoffs,
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
@dataclass
class ChurnRiskResult(Result):
    """Churn risk of every member present at the scoring date, with the backtest behind it.

    Attributes
    ----------
    scores : DataFrame
        One row per (group_id, member_id): ``risk`` in [0, 1], ``rank``, ``driver_1..3``,
        ``top_drivers``, ``silent_days``, ``active_before``.
    model : str
        Model used for the scores.
    backtest : ChurnBacktest or None
        The same procedure evaluated at ``scoring - horizon`` with data up to the scoring date.
    evaluation : ChurnBacktest or None
        Where the data extend ``horizon`` days past the scoring date: the scores judged
        against what happened.
    """

    definition: ChurnDefinition
    scoring_cutoff: pd.Timestamp
    model: str
    scores: pd.DataFrame
    backtest: ChurnBacktest | None = None
    evaluation: ChurnBacktest | None = None
    cutoffs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    title: str = "Churn risk by member"

    def to_frame(self) -> pd.DataFrame:
        return self.scores.copy()

    def to_dict(self) -> dict:
        risk = self.scores["risk"]
        out = {
            "title": self.title, "scoring_cutoff": self.scoring_cutoff, "definition": self.definition.kind,
            "horizon_days": self.definition.horizon, "activity": list(self.definition.activity),
            "model": self.model, "cutoffs": {k: v for k, v in self.cutoffs.items()},
            "n_scored": int(len(self.scores)),
            "risk_summary": {"mean": float(risk.mean()) if len(risk) else None,
                             "median": float(risk.median()) if len(risk) else None,
                             "n_above_0.5": int((risk > 0.5).sum())},
            "backtest": None if self.backtest is None else {
                k: v for k, v in self.backtest.to_dict().items() if k != "calibration"},
            "evaluation_at_scoring_date": None if self.evaluation is None else {
                "metrics": self.evaluation.metrics.loc[self.evaluation.metrics["model"] == self.model],
                "all_models": self.evaluation.metrics, "gain_over_recency": self.evaluation.gain},
            "notes": self.notes, "conclusion": self.conclusion(),
        }
        return to_jsonable(out)

    def in_language(self, lang: str | None):
        """Show this result, its backtest and its evaluation in ``lang``; returns the result."""
        super().in_language(lang)
        for part in (self.backtest, self.evaluation):
            if part is not None:
                part.in_language(lang)
        return self

    def title_text(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import t

        return t("churnres.title", self._lang(lang))

    def text_frame(self, lang: str | None = None, n: int | None = None) -> pd.DataFrame:
        """The members at highest risk for people (all with ``n=None``): risk in percent, drivers in words."""
        from groupstats.reports.i18n import CATALOGUE, t
        from groupstats.reports.tables import format_frame

        lang = self._lang(lang)
        top = self.top(len(self.scores) if n is None else n).copy()

        def words(name) -> str:
            key = f"feature.{name}"
            return t(key, lang) if key in CATALOGUE else str(name).replace("_", " ")

        ordered = self.scores.loc[top.index]
        drivers = [[ordered.at[i, c] for c in ("driver_1", "driver_2", "driver_3")
                    if c in ordered and isinstance(ordered.at[i, c], str) and ordered.at[i, c]] for i in top.index]
        top["drivers"] = [t("word.list_sep", lang).join(words(d) for d in ds) for ds in drivers]
        return format_frame(top, [("group_id", "col.group", "text"), ("member_id", "col.member", "text"),
                                  ("risk", "churn.col.risk", "pct"), ("rank", "field.rank", "int"),
                                  ("silent_days", "churn.col.silent_days", "days"),
                                  ("active_before", "field.active_before", "bool"),
                                  ("drivers", "churn.col.drivers", "text")], lang)

    def to_string(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import fmt_num, t

        lang = self._lang(lang)
        with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 90):
            body = self.text_frame(lang, n=20).to_string(index=False)
            text = f"{self.title_text(lang)}\n{body}"
            if len(self.scores) > 20:
                text += "\n" + t("churnres.more", lang, n=fmt_num(len(self.scores), lang))
            text += f"\n\n{self.conclusion(lang)}"
            if self.backtest is not None:
                text += "\n\n" + self.backtest.title_text(lang) + "\n" + \
                    self.backtest.text_frame(lang).to_string(index=False)
        return text

    def top(self, n: int = 20) -> pd.DataFrame:
        cols = [*KEYS, "risk", "rank", "silent_days", "active_before", "top_drivers"]
        return self.scores.sort_values("risk", ascending=False).head(n)[[c for c in cols if c in self.scores]]

    def conclusion(self, lang: str | None = None) -> str:
        from groupstats.reports.i18n import fmt_num, fmt_pct, note_text, t

        lang = self._lang(lang)
        s = self.scores
        model = t(f"churn.model.{self.model}", lang) if f"churn.model.{self.model}" in _catalogue() else self.model
        lines = [t("churnres.scored", lang, n=fmt_num(len(s), lang), date=_fmt(self.scoring_cutoff), model=model,
                   definition=churn_definition_text(self.definition, lang), mean=fmt_pct(s["risk"].mean(), lang, digits=0),
                   high=fmt_num(int((s["risk"] > 0.5).sum()), lang))]
        if self.backtest is not None:
            b = self.backtest.metrics.set_index(["model", "population"])
            if (self.model, "active") in b.index:
                r = b.loc[(self.model, "active")]
                lines.append(t("churnres.backtest", lang, date=_fmt(self.backtest.cutoffs["evaluation"]),
                               auc=f"{r['roc_auc']:.2f}", brier=f"{r['brier']:.3f}"))
        if self.evaluation is not None:
            ev = self.evaluation.metrics.set_index(["model", "population"])
            if (self.model, "all") in ev.index:
                r = ev.loc[(self.model, "all")]
                lines.append(t("churnres.judged", lang, date=_fmt(self.scoring_cutoff), auc=f"{r['roc_auc']:.2f}",
                               brier=f"{r['brier']:.3f}", intercept=f"{r['calibration_intercept']:+.2f}",
                               slope=f"{r['calibration_slope']:.2f}", capture=fmt_pct(r["capture_10"], lang, digits=0)))
        lines += [note_text(n, lang) for n in self.notes]
        return "\n".join(lines)

    def conclusion_card(self, lang: str | None = None, silence=None, rule_days: int = 30):
        """The churn report's conclusion card: is a member silent ``rule_days`` days gone?

        ``silence`` is the return curve (:func:`how_long_is_gone`); the verdict compares the chance of
        speaking again after ``rule_days`` silent days (largest segment) with its "gone" level, and the
        next step names the still-active members whose risk is above 50%.
        """
        from groupstats.reports.card import ConclusionCard
        from groupstats.reports.i18n import CATALOGUE, fmt_num, fmt_pct, t

        lang = self._lang(lang)
        row = None
        if silence is not None:
            c = silence.curve.curve
            at = c.loc[(c["d"] == rule_days) & np.isfinite(c["p_return"])]
            row = None if at.empty else at.sort_values("n_at_risk", ascending=False).iloc[0]
        question = t("churn.question", lang, days=rule_days)
        if row is None:
            answer, key = "needs_more_data", t("churn.key_none", lang, days=rule_days)
        else:
            word = str(row["segment"]).split(" ", 1)[0]
            segment = t(f"churn.segment.{word}", lang) if f"churn.segment.{word}" in CATALOGUE else str(row["segment"])
            answer = ("contradicted" if row["ci_low"] > silence.level else
                      "supported" if row["ci_high"] < silence.level else "not_shown")
            key = t("churn.key", lang, days=rule_days, p=fmt_pct(row["p_return"], lang, digits=0),
                    low=fmt_pct(row["ci_low"], lang, digits=0), high=fmt_pct(row["ci_high"], lang, digits=0),
                    within=f"{silence.curve.within:g}", segment=segment, n=fmt_num(row["n_at_risk"], lang))
        thr = silence.thresholds.get(row["segment"]) if row is not None else None
        at_risk = self.scores.loc[self.scores["silent_days"] < rule_days]
        n_high = int((at_risk["risk"] > 0.5).sum())
        nxt = (t("churn.next_contradicted", lang, days=rule_days) if answer == "contradicted" else
               t("churn.next_supported", lang, days=rule_days) if answer == "supported" else "")
        if thr is not None:
            nxt += t("churn.next_threshold", lang, thr=f"{thr:g}", level=fmt_pct(silence.level, lang, digits=0))
        nxt += t("churn.next_contact", lang, n=fmt_num(n_high, lang), horizon=self.definition.horizon)
        caveat = ""
        if self.backtest is not None:
            m = self.backtest.metrics.set_index(["model", "population"])
            if (self.model, "active") in m.index and ("recency", "active") in m.index:
                caveat = t("churn.caveat", lang, auc=f"{m.loc[(self.model, 'active'), 'roc_auc']:.2f}",
                           auc_recency=f"{m.loc[('recency', 'active'), 'roc_auc']:.2f}")
        return ConclusionCard(question=question, answer=answer, key_number=key, next_step=nxt, caveat=caveat,
                              lang=lang)


def _catalogue():
    from groupstats.reports.i18n import CATALOGUE

    return CATALOGUE


def churn_definition_text(definition: ChurnDefinition, lang: str) -> str:
    """What churn means here, in ``lang`` (:meth:`ChurnDefinition.describe` is the English)."""
    from groupstats.reports.i18n import t

    if lang == "en" or tuple(definition.activity) != ("message",):
        return definition.describe()
    return t(f"churnres.def.{definition.kind}", lang, days=definition.horizon)


def _add_model_to_evaluation(evaluation: ChurnBacktest, panel: _Panel, cut: pd.Timestamp, name: str,
                             model: ChurnRiskModel) -> None:
    """Add a model's scores, metrics and calibration table to an evaluation at ``cut`` (same members)."""
    frame = panel.frame(cut, panel.end)
    preds = evaluation.predictions
    preds[f"risk_{name}"] = model.predict_proba_frame(frame)
    rows, calib = [], []
    for pop, mask in (("all", np.ones(len(preds), bool)), ("active", preds["active_before"].to_numpy())):
        y = preds.loc[mask, "churned"].to_numpy(int)
        p = preds.loc[mask, f"risk_{name}"].to_numpy(float)
        rows.append({"model": name, "population": pop, **classification_metrics(y, p)})
        calib.append(_calibration_table(y, p).assign(model=name, population=pop))
    evaluation.metrics = pd.concat([evaluation.metrics, pd.DataFrame(rows)], ignore_index=True)
    evaluation.calibration = pd.concat([evaluation.calibration, pd.concat(calib)[evaluation.calibration.columns]],
                                       ignore_index=True)
    evaluation.models[name] = model


def _import_models_meanwhile() -> None:
    """Import scikit-learn's model modules in a background thread, while the engine computes the panel
    (the engine's work releases the GIL; ~1 s of imports the fits would otherwise wait for)."""
    import sys
    import threading

    if "sklearn.ensemble" in sys.modules:
        return

    def load():
        try:
            import sklearn.ensemble  # noqa: F401
            import sklearn.impute  # noqa: F401
            import sklearn.linear_model  # noqa: F401
            import sklearn.metrics  # noqa: F401
            import sklearn.pipeline  # noqa: F401
            import sklearn.preprocessing  # noqa: F401
        except Exception:  # noqa: BLE001 - the fits import them again and report any error there
            pass

    threading.Thread(target=load, name="groupstats-churn-imports", daemon=True).start()


def churn_risk(ds, cutoff=None, horizon: int = DEFAULT_HORIZON_DAYS, definition: str = "silent",
               activity=DEFAULT_ACTIVITY, model: str = "auto", n_train_cutoffs: int = N_TRAIN_CUTOFFS,
               step_days: int = STEP_DAYS, min_history_days: int = MIN_HISTORY_DAYS, n_boot: int = 1000,
               importance_repeats: int = 3, n_drivers: int = 3, random_state: int = 0) -> ChurnRiskResult:
    """Score every member present at ``cutoff`` (default: end of data) for churn within ``horizon``.

    Only data up to the scoring date are used to train and calibrate (:func:`plan_cutoffs`).
    The same procedure is backtested at ``cutoff - horizon`` (when there is enough history)
    to report metrics per model and, with ``model="auto"``, to pick the better of
    ``logistic`` and ``hgb`` (by ROC AUC on members active before that cutoff). Where the
    data extend ``horizon`` days past the scoring date, the scores are also judged against
    what happened (``evaluation``).

    Raises
    ------
    InsufficientDataError
        Too little history before the scoring date (the message says how much is needed).
    """
    d = _definition(definition, horizon, activity)
    ds = churn_data(ds)
    if model not in ("auto", "recency", "logistic", "hgb"):
        raise ParameterError(f"model must be auto, recency, logistic or hgb, not {model!r}.")
    end = data_end_day(ds)
    scoring = end if cutoff is None else _midnight(ds, cutoff)
    if scoring > end:
        raise ParameterError(f"The scoring date {_fmt(scoring)} is after the end of the data ({_fmt(end)}).")
    plan = plan_cutoffs(ds, scoring, d.horizon, n_train_cutoffs, step_days, min_history_days)
    notes: list = []
    try:
        prior_plan = plan_cutoffs(ds, scoring - pd.Timedelta(days=d.horizon), d.horizon, n_train_cutoffs,
                                  step_days, min_history_days)
    except InsufficientDataError:
        prior_plan = None
    history = min(plan["history_days"], prior_plan["history_days"]) if prior_plan is not None \
        else plan["history_days"]
    windows = feature_windows(history)
    panel = _Panel(ds, d, windows)
    evaluated = scoring + pd.Timedelta(days=d.horizon) <= panel.end
    labelled = _plan_cutoffs(plan, scoring if evaluated else None)
    if prior_plan is not None:
        labelled += _plan_cutoffs(prior_plan, prior_plan["scoring"])
    _import_models_meanwhile()
    panel.prefetch([*labelled, scoring], labelled)  # every cutoff in one pass per table
    if windows["churn"] != CHURN_WINDOWS or windows["member"] != MEMBER_WINDOWS:
        notes.append(f"Short history ({history:.0f} days before the earliest training cutoff): feature windows "
                     f"shortened to {', '.join(map(str, windows['churn']))} days (activity) and "
                     f"{', '.join(map(str, windows['member']))} days (member features), the same at every cutoff.")
    if plan["mode"] == "cross_fit":
        notes.append(
            f"Only one labelled cutoff fits before {_fmt(scoring)} ({_fmt(plan['train'][0])}, outcomes to "
            f"{_fmt(scoring)}): the model is trained on it and calibrated by cross-fitting across groups at that "
            f"cutoff. There is no out-of-time backtest and no calibration on a later cutoff; with "
            f"{plan['history_needed_days_time_split']} days of history before the scoring date the model is "
            f"calibrated on a later cutoff, and with {plan['history_needed_days_time_split'] + d.horizon} days it is "
            f"also backtested.")
    prior = None
    if prior_plan is None and plan["mode"] != "cross_fit":
        notes.append(f"No backtest before {_fmt(scoring)}: it needs {plan['history_needed_days'] + d.horizon} days "
                     f"of history before the scoring date.")
    with _one_thread(), ExitStack() as early:  # member-level models: BLAS threads cost more than they save
        final: dict = {}  # the scoring model, started as soon as the backtest has chosen it

        def start_final(best: str) -> None:
            name = model if model != "auto" else best
            if evaluated or name not in ("recency", "logistic", "hgb"):
                return
            from concurrent.futures import ThreadPoolExecutor

            m = ChurnRiskModel(name, d.horizon, d.kind, d.activity, n_train_cutoffs, step_days, min_history_days,
                               random_state=random_state)
            m._fit_begin(ds, scoring, panel, None)
            early.enter_context(warnings.catch_warnings())  # (only this thread changes the filters meanwhile)
            warnings.simplefilter("ignore", RuntimeWarning)
            pool = early.enter_context(ThreadPoolExecutor(max_workers=1))
            final.update(name=name, model=m, future=pool.submit(m._fit_compute))

        if prior_plan is not None:
            prior = backtest(ds, prior_plan["scoring"], d.horizon, d.kind, d.activity, MODELS, n_train_cutoffs,
                             step_days, min_history_days, n_boot, importance_repeats, random_state, _panel=panel,
                             _on_best=start_final)
        if final:
            final["future"].result()
            early.close()
        candidates = {}
        if model != "auto":
            chosen = model
        elif prior is not None:
            chosen = prior.best_model
        else:  # no backtest to choose between logistic and hgb: average them (the data cannot make the choice)
            frames: dict = {}  # the training and calibration frames, built once for both
            for name in ("logistic", "hgb"):
                candidates[name] = ChurnRiskModel(name, d.horizon, d.kind, d.activity, n_train_cutoffs, step_days,
                                                  min_history_days, random_state=random_state).fit(
                    ds, scoring, _panel=panel, _frames=frames)
            chosen = "logistic+hgb"
            where = ("on the later calibration cutoff" if plan["mode"] == "time_split"
                     else "on held-out groups at the training cutoff")
            notes.append("model='auto' without a backtest: the scores are the mean of the calibrated logistic and hgb "
                         "probabilities (ROC AUC " + where + ": "
                         + ", ".join(f"{k} {v.selection_auc_:.3f}" for k, v in candidates.items()) + ").")
        evaluation = None
        if scoring + pd.Timedelta(days=d.horizon) <= panel.end:
            evaluation = backtest(ds, scoring, d.horizon, d.kind, d.activity, MODELS, n_train_cutoffs, step_days,
                                  min_history_days, n_boot, importance_repeats, random_state, _panel=panel)
            fitted = evaluation.models[chosen] if chosen in evaluation.models else AveragedChurnModel(
                [evaluation.models[n] for n in chosen.split("+")])
            if chosen not in evaluation.models:  # judge the averaged scores too, on the same members
                _add_model_to_evaluation(evaluation, panel, scoring, chosen, fitted)
        elif chosen == "logistic+hgb":
            fitted = AveragedChurnModel([candidates["logistic"], candidates["hgb"]])
        elif final.get("name") == chosen:  # fitted while the backtest finished (the same model as fit() gives)
            fitted = final["model"]._fit_end()
        else:
            fitted = ChurnRiskModel(chosen, d.horizon, d.kind, d.activity, n_train_cutoffs, step_days,
                                    min_history_days, random_state=random_state).fit(ds, scoring, _panel=panel)
        scored = fitted.score(ds, scoring, n_drivers=n_drivers, _panel=panel)
    active = panel.active_before(scored, scoring)
    scores = scored[[*KEYS, "risk"]].copy()
    scores["rank"] = scores["risk"].rank(ascending=False, method="first").astype(int)
    for c in [c for c in scored.columns if c.startswith("driver_")] + ["top_drivers"]:
        scores[c] = scored[c].to_numpy()
    scores["silent_days"] = scored["silent_days"].round(2).to_numpy()
    scores["active_before"] = np.asarray(active)
    return ChurnRiskResult(definition=d, scoring_cutoff=scoring, model=chosen, scores=scores.reset_index(drop=True),
                           backtest=prior, evaluation=evaluation,
                           cutoffs={"scoring": scoring, "mode": plan["mode"], "calibration": plan["calibration"],
                                    "train": plan["train"], "history_days": plan["history_days"],
                                    "feature_windows": windows},
                           notes=notes)
