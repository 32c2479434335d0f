"""Stage 2, model fit: weighted least squares, tau^2 estimators, the mixed-effects fit, pooling,
moderators, the batched engine."""
