"""BG/NBD model of repeat activity ("buy till you die") and the transactions-to-summary step.

The beta-geometric / negative binomial distribution model of Fader, Hardie and Lee
(2005), "Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD
Model", Marketing Science 24(2), 275-284:

* while alive, a customer (here: a group member) transacts as a Poisson process with
  rate ``lambda``; ``lambda ~ Gamma(shape=r, rate=alpha)`` across customers;
* after every *repeat* transaction the customer drops out ("dies") with probability
  ``p``; ``p ~ Beta(a, b)`` across customers, independent of ``lambda``.

Data per customer (time unit of the caller's choice, e.g. weeks or days):
``frequency`` x = number of repeat transactions, ``recency`` t_x = time of the last
transaction measured from the first one, ``T`` = time from the first transaction to
the end of the calibration period (the cutoff).

Formulas (FHL 2005, eq. 6, 10 and the appendix)::

    log L_i = ln G(r+x) - ln G(r) + r ln(alpha) + ln B(a, b+x) - ln B(a, b)
              + log( (alpha+T)^-(r+x)  +  1[x>0] * a/(b+x-1) * (alpha+t_x)^-(r+x) )
    P(alive | x, t_x, T) = 1 / (1 + 1[x>0] * a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))
    E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1)
                          * (1 - ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t)))
                          * P(alive | x, t_x, T)

``probability_no_activity`` (derived here): a BG/NBD customer can only drop out right
after a transaction, so with no transaction in (T, T+t] nobody dies in that window.
Given the data and "alive at T", the posterior of lambda is Gamma(r+x, alpha+T) (the
likelihood of the alive branch is lambda^x e^(-lambda T) (1-p)^x), so::

    P(no transaction in (T, T+t] | x, t_x, T)
        = (1 - P(alive)) + P(alive) * E[e^(-lambda t) | alive]
        = 1 - P(alive) + P(alive) * ((alpha+T)/(alpha+T+t))^(r+x)

The test suite checks this against Monte-Carlo simulation from the model.

Modules: ``likelihood`` (checks, log-likelihood and gradient, bounded-fit helpers), ``model``
(BetaGeoModel, BetaGeoFit), ``data`` (simulate_bgnbd, summary_from_transactions). Every name stays
importable from ``groupstats.stats.bgnbd``.
"""
from __future__ import annotations

from groupstats.stats.bgnbd.likelihood import (PARAM_NAMES, _as_float_array, _validate_rfm, _validate_t,
                                               _log_likelihood_terms, _log_likelihood_and_gradient,
                                               _log_odds_dead, _hessian_from_gradient, _settle_on_bounds)
from groupstats.stats.bgnbd.model import BetaGeoFit, BetaGeoModel
from groupstats.stats.bgnbd.data import simulate_bgnbd, _UNIT_DAYS, summary_from_transactions

__all__ = ["BetaGeoModel", "BetaGeoFit", "summary_from_transactions"]
