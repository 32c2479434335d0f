"""The ``compassmeta`` command line: parse options, call the library, render the result.

One module per family of commands; importing one registers its commands on ``main``.  The group
imports a command's module when the command is run (or listed by --help), so that each command
starts with its own imports only.
"""
import os

# One BLAS thread, unless the user chose: numpy's OpenBLAS splits a dot product of more than about
# 10^4 values across threads, which on a shared 2-core machine spin-wait for each other (a 23,000-value
# np.dot took 4.7 ms of CPU instead of 7 us; the report of 10^5 rows spent much of its time there).
# Set before anything imports numpy.
if not {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"} & set(os.environ):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

from .app import main  # noqa: E402  (after the BLAS setting)

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
