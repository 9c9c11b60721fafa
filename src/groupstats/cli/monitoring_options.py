"""The monitoring options shared by ``abtest``, ``mix`` and ``compare``: ``--as-of``, ``--sequential``,
``--n-opt`` and ``--prior-sd`` (one declaration each; a command passes only what its help says
differently: which rows ``--as-of`` keeps and which units ``--sequential`` counts)."""
from __future__ import annotations

import typer

from groupstats.cli.common import date_callback


def as_of_option(keeps: str = "posts whose window runs past it are excluded"):
    return typer.Option(None, "--as-of", callback=date_callback,
                        help=f"Analyse with data up to this date (YYYY-MM-DD, the whole day) only; {keeps}.")


def sequential_option(units: str):
    return typer.Option(False, "--sequential", help="Always-valid p-values and confidence sequences: valid however "
                                                    f"often the experiment is looked at (units: {units}).")


def n_opt_option(default: str = "the planned number"):
    return typer.Option(None, "--n-opt", help="Sequential tuning: units at which the interval is tightest; "
                                              f"default {default}.")


def prior_sd_option():
    return typer.Option(0.3, "--prior-sd", help="Prior SD of the relative effect for the Bayesian read-out "
                                                "(0.3 = 30%).")
