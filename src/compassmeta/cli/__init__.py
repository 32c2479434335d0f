"""The ``compassmeta`` command line: parse options, call the library, render the result.

One module per family of commands; importing them registers the commands on ``main``.
"""
from . import analyses, bayes, editing, extract, figures, fitting, report, selection, studies  # noqa: F401  (registers the commands)
from .app import main

__all__ = ["main"]
