"""The ``compassmeta`` command line: parse options, call the library, render the result.

One module per family of commands; importing one registers its commands on ``main``.  The group
imports a command's module when the command is run (or listed by --help), so that each command
starts with its own imports only.
"""
from .app import main

main.lazy_modules = {
    "pool": "fitting", "subgroup": "fitting", "metareg": "fitting",
    "bias": "analyses", "sensitivity": "analyses", "simulate": "analyses",
    "forest": "figures", "funnel": "figures", "bubble": "figures", "baujat": "figures", "gosh": "figures",
    "selmodel": "selection", "svalue": "selection",
    "add": "studies", "validate": "studies", "reproduce": "studies", "data": "studies",
    "edit": "editing", "remove": "editing", "history": "editing",
    "trial": "trial",
    "extract": "extract",
    "report": "report", "plan": "report",
    "escalc": "escalc",
    "bayes": "bayes",
    "mvmeta": "multivariate",
    "rob": "rob",
}

__all__ = ["main"]
