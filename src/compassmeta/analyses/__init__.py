"""Stage 3, analyses on fitted models: publication bias, sensitivity, GOSH, permutation tests, simulation."""
