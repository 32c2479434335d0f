#!/usr/bin/env Rscript
# Reference effect sizes (Hedges' g and its variance) for every statistic route of
# studies/trials.csv (stat_type), from metafor's escalc(measure = "SMD").
#
# Run from the project root:  Rscript scripts/metafor_effects_reference.R
# Writes tests/fixtures/metafor_effects.json; CI reads the committed JSON.
#
# escalc takes means/SDs/ns, Cohen's d (di) or t (ti).  The other routes are turned into
# one of those here, each by its cited formula, written independently of compassmeta:
#   change scores: their SDs are the SDs (Cochrane Handbook 6.5.2.8 for pre_post with r);
#   F(1, df): t = sign * sqrt(F);  exact two-sided p: t = sign * qt(1 - p/2, n1 + n2 - 2);
#   printed g with ns: d = g / J(m), J from metafor's .cmicalc;
#   adjusted means with SE: SD = SE sqrt(n);  with 95% CI: SD = sqrt(n) width / (2 qt(.975, n - 1))
#     (Cochrane Handbook 6.5.2.2);
#   median/quartiles/range: mean from Luo et al. (2018), SD from Wan et al. (2014), with
#     xi(n) the exact expected normal range for n <= 50 (Wan's Table 1) by integrate().
# The numbers are constructed inputs for the formulas, not study data.
.libPaths(c("/opt/rlib-current", .libPaths()))  # metafor 5.1-12, the current version
suppressMessages({library(metafor); library(jsonlite)})

smd <- function(...) {
  es <- escalc(measure = "SMD", ...)
  list(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
}
xi <- function(n) {
  if (n > 50) return(2 * qnorm((n - 0.375) / (n + 0.25)))
  2 * integrate(function(z) z * n * dnorm(z) * pnorm(z)^(n - 1), -Inf, Inf,
                rel.tol = 1e-13, abs.tol = 1e-13)$value
}
eta <- function(n) 2 * qnorm((0.75 * n - 0.125) / (n + 0.25))
from_quantiles <- function(n, m, q1 = NA, q3 = NA, a = NA, b = NA) {
  if (!is.na(q1) && !is.na(a)) {
    w1 <- 2.2 / (2.2 + n^0.75); w2 <- 0.7 - 0.72 / n^0.55
    c(w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m,
      (b - a) / (2 * xi(n)) + (q3 - q1) / (2 * eta(n)))
  } else if (!is.na(a)) {
    w <- 4 / (4 + n^0.75)
    c(w * (a + b) / 2 + (1 - w) * m, (b - a) / xi(n))
  } else {
    w <- 0.7 + 0.39 / n
    c(w * (q1 + q3) / 2 + (1 - w) * m, (q3 - q1) / eta(n))
  }
}

cases <- list()
add <- function(name, row, result) {
  cases[[length(cases) + 1]] <<- list(name = name, row = row, yi = result$yi, vi = result$vi)
}

add("means", list(stat_type = "means", n1 = 24, n2 = 22, mean1 = 3.41, sd1 = 0.62, mean2 = 2.98, sd2 = 0.71),
    smd(m1i = 3.41, sd1i = 0.62, n1i = 24, m2i = 2.98, sd2i = 0.71, n2i = 22))
add("change", list(stat_type = "change", n1 = 30, n2 = 31, mean1 = -6.2, sd1 = 5.1, mean2 = -2.4, sd2 = 4.8),
    smd(m1i = -6.2, sd1i = 5.1, n1i = 30, m2i = -2.4, sd2i = 4.8, n2i = 31))
sdc <- function(pre, post, r) sqrt(pre^2 + post^2 - 2 * r * pre * post)
add("pre_post", list(stat_type = "pre_post", n1 = 18, n2 = 20, pre_mean1 = 2.61, pre_sd1 = 0.55, mean1 = 3.20,
                     sd1 = 0.60, pre_mean2 = 2.70, pre_sd2 = 0.58, mean2 = 2.81, sd2 = 0.63, prepost_r = 0.5),
    smd(m1i = 3.20 - 2.61, sd1i = sdc(0.55, 0.60, 0.5), n1i = 18,
        m2i = 2.81 - 2.70, sd2i = sdc(0.58, 0.63, 0.5), n2i = 20))
add("t", list(stat_type = "t", n1 = 40, n2 = 38, statistic = -2.47), smd(ti = -2.47, n1i = 40, n2i = 38))
add("f", list(stat_type = "f", n1 = 25, n2 = 27, statistic = 5.86, direction = -1),
    smd(ti = -sqrt(5.86), n1i = 25, n2i = 27))
add("p", list(stat_type = "p", n1 = 33, n2 = 35, statistic = 0.012, direction = 1),
    smd(ti = qt(1 - 0.012 / 2, 33 + 35 - 2), n1i = 33, n2i = 35))
add("d", list(stat_type = "d", n1 = 21, n2 = 19, statistic = 0.64), smd(di = 0.64, n1i = 21, n2i = 19))
add("g_n", list(stat_type = "g_n", n1 = 21, n2 = 19, g = 0.61),
    smd(di = 0.61 / metafor:::.cmicalc(21 + 19 - 2), n1i = 21, n2i = 19))
add("adjusted_se", list(stat_type = "adjusted_se", n1 = 45, n2 = 44, mean1 = 14.2, se1 = 0.91, mean2 = 17.5, se2 = 0.95),
    smd(m1i = 14.2, sd1i = 0.91 * sqrt(45), n1i = 45, m2i = 17.5, sd2i = 0.95 * sqrt(44), n2i = 44))
ci_sd <- function(l, u, n) sqrt(n) * (u - l) / (2 * qt(0.975, n - 1))
add("adjusted_ci", list(stat_type = "adjusted_ci", n1 = 26, n2 = 28, mean1 = 3.52, ci_lower1 = 3.25, ci_upper1 = 3.79,
                        mean2 = 3.05, ci_lower2 = 2.80, ci_upper2 = 3.30),
    smd(m1i = 3.52, sd1i = ci_sd(3.25, 3.79, 26), n1i = 26, m2i = 3.05, sd2i = ci_sd(2.80, 3.30, 28), n2i = 28))
for (case in list(
  list(kind = "median_iqr", n1 = 35, n2 = 32, a1 = list(m = 12, q1 = 8, q3 = 17), a2 = list(m = 16, q1 = 11, q3 = 22)),
  list(kind = "median_range", n1 = 14, n2 = 12, a1 = list(m = 12, a = 3, b = 27), a2 = list(m = 16, a = 5, b = 30)),
  list(kind = "median_iqr_range", n1 = 64, n2 = 60, a1 = list(m = 12, q1 = 8, q3 = 17, a = 1, b = 35),
       a2 = list(m = 16, q1 = 11, q3 = 22, a = 2, b = 40)))) {
  get <- function(arm, key) if (is.null(arm[[key]])) NA else arm[[key]]
  ms1 <- from_quantiles(case$n1, case$a1$m, get(case$a1, "q1"), get(case$a1, "q3"), get(case$a1, "a"), get(case$a1, "b"))
  ms2 <- from_quantiles(case$n2, case$a2$m, get(case$a2, "q1"), get(case$a2, "q3"), get(case$a2, "a"), get(case$a2, "b"))
  row <- list(stat_type = case$kind, n1 = case$n1, n2 = case$n2, median1 = case$a1$m, median2 = case$a2$m)
  for (i in 1:2) {
    arm <- case[[paste0("a", i)]]
    if (!is.null(arm$q1)) { row[[paste0("q1_", i)]] <- arm$q1; row[[paste0("q3_", i)]] <- arm$q3 }
    if (!is.null(arm$a)) { row[[paste0("min", i)]] <- arm$a; row[[paste0("max", i)]] <- arm$b }
  }
  add(case$kind, row, smd(m1i = ms1[1], sd1i = ms1[2], n1i = case$n1, m2i = ms2[1], sd2i = ms2[2], n2i = case$n2))
}

out <- list(metafor_version = as.character(packageVersion("metafor")), cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/fixtures/metafor_effects.json")
