#!/usr/bin/env Rscript
# Reference values from metafor's gosh() and permutest() (exact mode) for the batched engine.
#
# Run from the project root:  Rscript scripts/metafor_speed_reference.R
# Writes tests/fixtures/metafor_gosh_permutest.json.  CI does not run it.
# Needs metafor >= 5.1 in /opt/rlib-current (see helpers' notes); the JSON records its version.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "5.1")

tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)
num <- function(x) as.numeric(x)
nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999)
yi <- signif(as.numeric(nor$yi), 15)
vi <- signif(as.numeric(nor$vi), 15)
binary <- c(rep("a", 4), rep("b", 5))   # made-up grouping of the nine studies
dose <- c(3, 8, 5, 12, 6, 10)           # made-up continuous moderator for the first six

gosh_cases <- lapply(c("FE", "DL", "REML"), function(method) {
  res <- rma(yi, vi, method = method, control = tight)
  g <- gosh(res, progbar = FALSE)
  codes <- apply(g$incl, 1, function(row) sum(2^(which(row) - 1)))
  list(method = method, subsets = codes, k = num(g$res$k), estimate = num(g$res$estimate),
       q = num(g$res$QE), i2 = num(g$res$I2), h2 = num(g$res$H2), tau2 = num(g$res$tau2))
})

perm_cases <- list()
for (method in c("DL", "REML")) for (test in c("z", "knha")) {
  r0 <- rma(yi, vi, method = method, test = test, control = tight)
  p0 <- permutest(r0, exact = TRUE, progbar = FALSE)
  perm_cases[[length(perm_cases) + 1]] <- list(model = "intercept", method = method, test = test,
    qm = num(r0$QM), qm_p = num(p0$QMp), coefficient_p = num(p0$pval),
    permutations = length(p0$QM.perm), failed = sum(is.na(p0$QM.perm)))
  r1 <- rma(yi, vi, mods = ~ binary, method = method, test = test, control = tight)
  p1 <- permutest(r1, exact = TRUE, progbar = FALSE)
  perm_cases[[length(perm_cases) + 1]] <- list(model = "binary", method = method, test = test,
    qm = num(r1$QM), qm_p = num(p1$QMp), coefficient_p = num(p1$pval),
    permutations = length(p1$QM.perm), failed = sum(is.na(p1$QM.perm)))
  r2 <- rma(yi[1:6], vi[1:6], mods = ~ dose, method = method, test = test, control = tight)
  p2 <- permutest(r2, exact = TRUE, progbar = FALSE)
  perm_cases[[length(perm_cases) + 1]] <- list(model = "dose", method = method, test = test,
    qm = num(r2$QM), qm_p = num(p2$QMp), coefficient_p = num(p2$pval),
    permutations = length(p2$QM.perm), failed = sum(is.na(p2$QM.perm)))
}

out <- list(metafor_version = as.character(packageVersion("metafor")),
            generated_by = "scripts/metafor_speed_reference.R",
            data = list(yi = yi, vi = vi, binary = binary, dose = dose),
            gosh = gosh_cases, permutest = perm_cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_gosh_permutest.json"))
cat("wrote tests/fixtures/metafor_gosh_permutest.json\n")
