"""The ``groupstats`` command line: :data:`app` (typer) and :func:`main` (the console script).

One module per concern registers its commands: ``data`` (validate, simulate, summary),
``importing``, ``experiments`` (abtest, compare, plan-slots), ``mix_health``, ``members``
(features, segment, tiers), ``churn`` and ``report``; ``common`` holds the shared helpers.
"""
from groupstats.cli.root import app, main

__all__ = ["app", "main"]
