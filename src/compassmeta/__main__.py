"""``python -m compassmeta`` runs the command line."""
from .cli import main

main()
