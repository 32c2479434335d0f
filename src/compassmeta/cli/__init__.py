"""The ``compassmeta`` command line: parse options, call the library, render the result.

One module per family of commands; importing them registers the commands on ``main``.
"""
from . import (  # noqa: F401  (registers the commands)
    analyses,
    editing,
    extract,
    figures,
    fitting,
    multivariate,
    report,
    selection,
    studies,
)
from .app import main

__all__ = ["main"]
