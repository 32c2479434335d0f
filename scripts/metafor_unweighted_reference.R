#!/usr/bin/env Rscript
# Reference values of unweighted models (metafor rma(weighted = FALSE)) and of the fit statistics of
# models with user weights (rma(weights =)), at current metafor (5.1-12), for issue 25.
#
# Run from the project root:  Rscript scripts/metafor_unweighted_reference.R
# Needs metafor >= 5.1 in /opt/rlib-current (see helpers' notes), metadat, jsonlite.
# Writes tests/fixtures/metafor_unweighted.json with the metafor version.  CI reads the JSON.
# weighted = FALSE is metafor's fit with every weight 1: beta by ordinary least squares, its variance
# (X'X)^-1 X'(V + tau^2 I)X (X'X)^-1; tau^2, Q, I^2 as the weighted fit; fitstats() evaluate the
# (restricted) likelihood at that beta.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "5.1")

tight <- list(threshold = 1e-13, maxiter = 10000, tol = 1e-13)
ci_control <- list(tol = 1e-13, tau2.max = 1e7)
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
tw <- read.csv(file.path("studies", "thirdwave.csv"))
datasets <- list(
  bcg = list(source = "metadat dat.bcg, log risk ratio (escalc RR)", yi = num(bcg$yi), vi = num(bcg$vi)),
  thirdwave = list(source = "studies/thirdwave.csv (yi = g, vi = se^2)", yi = num(tw$g), vi = num(tw$se^2)))

case_of <- function(name, method, test, weighting) {
  d <- datasets[[name]]
  args <- list(yi = d$yi, vi = d$vi, method = method, test = test, control = tight)
  if (weighting == "unweighted") args$weighted <- FALSE else args$weights <- 1 / sqrt(d$vi)
  fit <- suppressWarnings(do.call(rma, args))
  pr <- predict(fit)
  f <- fitstats(fit)
  out <- list(data = name, method = method, test = test, weighting = weighting,
              estimate = num(fit$beta), se = num(fit$se), statistic = num(fit$zval), p_value = num(fit$pval),
              ci_lower = num(fit$ci.lb), ci_upper = num(fit$ci.ub), pi_lower = num(pr$pi.lb),
              pi_upper = num(pr$pi.ub), tau2 = num(fit$tau2), tau2_se = num(fit$se.tau2), q = num(fit$QE),
              i2 = num(fit$I2), h2 = num(fit$H2), log_likelihood = f[1, 1], deviance = f[2, 1], aic = f[3, 1],
              bic = f[4, 1], aicc = f[5, 1])
  if (method != "FE") {
    r <- confint(fit, control = ci_control)$random
    out$tau2_ci <- num(r["tau^2", 2:3])
    out$i2_ci <- num(r["I^2(%)", 2:3])
    out$h2_ci <- num(r["H^2", 2:3])
  }
  out
}

cases <- list()
for (name in names(datasets)) for (method in c("REML", "ML", "DL", "PM", "HS", "FE")) for (test in c("z", "knha"))
  for (weighting in c("unweighted", "1/sqrt(vi)"))
    cases[[length(cases) + 1]] <- case_of(name, method, test, weighting)

writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")),
                       generated_by = "scripts/metafor_unweighted_reference.R",
                       datasets = datasets, cases = cases),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_unweighted.json"))
cat("wrote", length(cases), "cases to tests/fixtures/metafor_unweighted.json\n")
