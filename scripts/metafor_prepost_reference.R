# Reference for `pool --prepost-r`: the pooled g when every pre_post row of a study table is
# recomputed with an assumed pre-post correlation r, from metafor's escalc(measure = "SMD") on the
# change scores (SD of change sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre sd_post), Cochrane Handbook
# 6.5.2.8) and rma() (REML, threshold 1e-12; DL).  Rows of other stat_types keep their g.
# The numbers are constructed inputs for the formulas, not study data.
# Output: tests/fixtures/metafor_prepost.json (read by tests/test_prepost_sensitivity.py).
#   Rscript scripts/metafor_prepost_reference.R
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

means <- data.frame(n1 = c(24, 40, 31), n2 = c(22, 41, 30), mean1 = c(3.41, 12.0, 20.5), sd1 = c(0.62, 4.1, 6.0),
                    mean2 = c(2.98, 13.9, 23.4), sd2 = c(0.71, 4.4, 6.3), higher_is_better = c(TRUE, FALSE, FALSE))
prepost <- data.frame(n1 = c(18, 27, 35, 22), n2 = c(20, 25, 33, 24),
                      pre_mean1 = c(2.61, 30.2, 14.1, 9.8), pre_sd1 = c(0.55, 7.9, 3.2, 2.9),
                      mean1 = c(3.20, 24.3, 11.0, 8.1), sd1 = c(0.60, 8.4, 3.6, 3.3),
                      pre_mean2 = c(2.70, 29.5, 13.8, 10.1), pre_sd2 = c(0.58, 8.2, 3.0, 3.1),
                      mean2 = c(2.81, 28.0, 13.1, 9.9), sd2 = c(0.63, 8.0, 3.3, 3.0),
                      prepost_r = c(0.5, 0.6, 0.5, 0.4), higher_is_better = c(TRUE, FALSE, FALSE, FALSE))

sdc <- function(pre, post, r) sqrt(pre^2 + post^2 - 2 * r * pre * post)
effects <- function(r) {   # r = NULL: each row's own prepost_r
  a <- escalc(measure = "SMD", m1i = mean1, sd1i = sd1, n1i = n1, m2i = mean2, sd2i = sd2, n2i = n2, data = means)
  rr <- if (is.null(r)) prepost$prepost_r else rep(r, nrow(prepost))
  b <- with(prepost, escalc(measure = "SMD", m1i = mean1 - pre_mean1, sd1i = sdc(pre_sd1, sd1, rr), n1i = n1,
                            m2i = mean2 - pre_mean2, sd2i = sdc(pre_sd2, sd2, rr), n2i = n2))
  sign <- ifelse(c(means$higher_is_better, prepost$higher_is_better), 1, -1)
  list(yi = sign * c(as.numeric(a$yi), as.numeric(b$yi)), vi = c(as.numeric(a$vi), as.numeric(b$vi)))
}
fit <- function(r, method) {
  e <- effects(r)
  res <- rma(e$yi, e$vi, method = method, control = list(threshold = 1e-12, maxiter = 10000))
  p <- predict(res)
  list(prepost_r = r, method = method, yi = e$yi, vi = e$vi, estimate = as.numeric(coef(res)),
       ci_lower = res$ci.lb, ci_upper = res$ci.ub, pi_lower = p$pi.lb, pi_upper = p$pi.ub, tau2 = res$tau2)
}
fits <- list()
for (method in c("REML", "DL")) for (r in list(NULL, 0.3, 0.5, 0.7, 0.9)) fits[[length(fits) + 1]] <- fit(r, method)

out <- list(metafor_version = as.character(packageVersion("metafor")),
            means_rows = means, pre_post_rows = prepost, fits = fits)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", null = "null", dataframe = "rows"),
           "tests/fixtures/metafor_prepost.json")
cat(length(fits), "fits written\n")
