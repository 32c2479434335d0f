"""Stage 5, reports: text and CSV tables, the reproduction of published results."""
