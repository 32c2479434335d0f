"""Building blocks every stage uses: errors, immutable results, distributions, root finding, threads."""
