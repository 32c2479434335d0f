"""Stage 1, study rows to effect sizes: reading tables, the study-table schema and safe appends, open databases, effect sizes and aggregation."""
