#!/usr/bin/env Rscript
# Reference values for every tau^2 estimator of rma.uni() and its standard error (se.tau2), at
# current metafor (5.1-12; the version is recorded in the output).
#
# Run from the project root:  Rscript scripts/metafor_tau2_reference.R
# Writes tests/fixtures/metafor_tau2.json.  CI does not run it.  GENQM needs the CompQuadForm package.
# Iterations and root searches run with tight tolerances (threshold 1e-13, uniroot tol 1e-13) so the
# fixture holds converged values, not metafor's default stopping points.
# Data: dat.bcg (log risk ratios via escalc(RR); with and without the moderator ablat),
# dat.hackshaw1998 (yi, vi), and the ThirdWave table studies/thirdwave.csv (yi = g, vi = se^2; with
# and without the moderator risk_of_bias, low against high).  GENQ and GENQM estimate tau^2 with user
# weights, here 1 / se (= 1 / sqrt(vi)); the REML fit with the same weights checks the weighted model
# fit (beta with weights A, sandwich covariance).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "5.1")

tight <- list(threshold = 1e-13, maxiter = 10000, tol = 1e-13, tau2.max = 1000)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
thirdwave <- read.csv(file.path("studies", "thirdwave.csv"))
datasets <- list(
  bcg = list(source = "metadat dat.bcg, log risk ratio (escalc RR)", yi = as.numeric(bcg$yi),
             vi = as.numeric(bcg$vi), moderator = "ablat", x = as.numeric(bcg$ablat)),
  hackshaw1998 = list(source = "metadat dat.hackshaw1998 (yi, vi)", yi = dat.hackshaw1998$yi,
                      vi = dat.hackshaw1998$vi),
  thirdwave = list(source = "studies/thirdwave.csv (yi = g, vi = se^2)", yi = thirdwave$g,
                   vi = thirdwave$se^2, moderator = "risk_of_bias",
                   x = as.numeric(thirdwave$risk_of_bias == "low")))

methods <- c("DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ", "GENQM", "DLIT", "SJIT")
values <- function(fit) list(tau2 = fit$tau2, se_tau2 = fit$se.tau2, beta = as.numeric(fit$beta),
                             se = as.numeric(fit$se), ci_lower = as.numeric(fit$ci.lb),
                             ci_upper = as.numeric(fit$ci.ub), p_value = as.numeric(fit$pval),
                             q = fit$QE, i2 = fit$I2, h2 = fit$H2)
cases <- list()
for (name in names(datasets)) for (mods in c(FALSE, TRUE)) for (method in c(methods, "REML_weighted")) {
  d <- datasets[[name]]
  if (mods && is.null(d$x)) next
  weighted <- method %in% c("GENQ", "GENQM", "REML_weighted")
  args <- list(yi = d$yi, vi = d$vi, method = sub("_weighted", "", method), control = tight)
  if (weighted) args$weights <- 1 / sqrt(d$vi)
  if (mods) args$mods <- cbind(d$x)
  fit <- do.call(rma, args)
  cases[[length(cases) + 1]] <- c(list(data = name, method = sub("_weighted", "", method),
                                       mods = if (mods) d$moderator else NA,
                                       weights = if (weighted) "1/sqrt(vi)" else NA), values(fit))
}
writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")),
                       compquadform_version = as.character(packageVersion("CompQuadForm")),
                       datasets = datasets, cases = cases),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_tau2.json"))
cat("wrote", length(cases), "cases\n")
