"""The ``compassmeta`` command line: parse options, call the library, render the result.

One module per family of commands; importing them registers the commands on ``main``.
"""
from . import analyses, editing, extract, figures, fitting, report, selection, studies, trial  # noqa: F401,E501  (registers the commands)
from .app import main

__all__ = ["main"]
