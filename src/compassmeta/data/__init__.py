"""Stage 1, study rows to effect sizes: reading tables, the study-table schema, validation and safe
writes, input loading, open databases, effect sizes and aggregation."""
