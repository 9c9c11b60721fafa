"""Scoring every member at a date (what the CLI and notebook call): the model trained and calibrated on
earlier cutoffs, chosen by the backtest one horizon earlier, the backtest's remaining work and the
scoring model's fit overlapping in threads."""
from __future__ import annotations

import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from groupstats.errors import InsufficientDataError, ParameterError
from groupstats.results import Result, to_jsonable
from groupstats.analyses.churn.labels import (
    CHURN_WINDOWS, ChurnDefinition, DEFAULT_ACTIVITY, DEFAULT_HORIZON_DAYS, KEYS, MEMBER_WINDOWS,
    MIN_HISTORY_DAYS, MODELS, N_TRAIN_CUTOFFS, STEP_DAYS, _definition, _fmt, _midnight, churn_data, data_end_day,
)
from groupstats.analyses.churn.features import _Panel, feature_windows
from groupstats.analyses.churn.metrics import _calibration_table, _one_thread, classification_metrics
from groupstats.analyses.churn.model import AveragedChurnModel, ChurnRiskModel, fit_concurrently, plan_cutoffs
from groupstats.analyses.churn.backtest import (
    ChurnBacktest, _catalogue, _plan_cutoffs, backtest, churn_definition_text,
)


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
    panel = _Panel(ds, d, windows, message_mix=False)  # (the scores read no message-mix feature)
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
            # both fitted at once in threads, on the training and calibration frames built once for both
            names = ("logistic", "hgb")
            pair = [ChurnRiskModel(name, d.horizon, d.kind, d.activity, n_train_cutoffs, step_days, min_history_days,
                                   random_state=random_state) for name in names]

            def logistic_drivers(wait) -> None:  # on the core the logistic fit frees while hgb still fits
                wait(pair[0])
                pair[0]._drivers_ahead(panel.features(scoring))

            fitted_both, _ = fit_concurrently(pair, ds, scoring, panel, {}, meanwhile=logistic_drivers, wait_arg=True)
            candidates.update(zip(names, fitted_both))
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
