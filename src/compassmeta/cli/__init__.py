"""The ``compassmeta`` command line: parse options, call the library, render the result.

One module per family of commands; importing them registers the commands on ``main``.
"""
from . import analyses, figures, fitting, studies  # noqa: F401  (registers the commands)
from . import selection  # noqa: F401
from .app import main

__all__ = ["main"]
