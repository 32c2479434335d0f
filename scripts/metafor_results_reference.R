#!/usr/bin/env Rscript
# Reference values for the result interface (common.results): intervals at a level other than
# the one fitted (Estimate.conf_int(level)) and the heterogeneity a PooledModel reports.
#
# Run from the project root:  Rscript scripts/metafor_results_reference.R
# Writes tests/fixtures/metafor_results.json.  Needs metafor 5.1-12 (in /opt/rlib-current),
# metadat, clubSandwich, jsonlite.  CI does not run this script; it reads the committed JSON.
#
# Every model is fitted at level = 90: metafor's ci.lb / ci.ub (Wald z, or t on its df under
# test = "knha" / "t"), predict()'s pi.lb / pi.ub, and clubSandwich conf_int(level = 0.90) with
# CR2 standard errors and Satterthwaite df.  Tolerances are tight so that the fixture holds the
# converged optimum, as in scripts/metafor_reference.R and scripts/metafor_multilevel_reference.R.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(clubSandwich); library(jsonlite)})

level <- 90
tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)
tight_mv <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
assink <- dat.assink2016

coefficients_of <- function(fit) {
  list(terms = rownames(fit$beta), beta = as.numeric(fit$beta), se = as.numeric(fit$se),
       ci_lb = as.numeric(fit$ci.lb), ci_ub = as.numeric(fit$ci.ub), pval = as.numeric(fit$pval))
}

univariate <- list()
for (test in c("z", "knha")) {
  fit <- rma(yi, vi, data = bcg, method = "REML", test = test, level = level, control = tight)
  pred <- predict(fit, level = level)
  univariate[[test]] <- c(coefficients_of(fit), list(
    tau2 = fit$tau2, i2 = fit$I2, q = fit$QE, q_df = fit$k - fit$p,
    pi_lb = pred$pi.lb, pi_ub = pred$pi.ub))
}

metareg <- list()
for (test in c("z", "knha")) {
  fit <- rma(yi, vi, mods = ~ ablat, data = bcg, method = "REML", test = test, level = level,
             control = tight)
  metareg[[test]] <- coefficients_of(fit)
}

multilevel <- list()
for (test in c("z", "t")) {
  fit <- rma.mv(yi, vi, random = ~ 1 | study / esid, data = assink, method = "REML", test = test,
                level = level, control = tight_mv)
  pred <- predict(fit, level = level)
  multilevel[[test]] <- c(coefficients_of(fit), list(
    sigma2 = as.numeric(fit$sigma2), q = fit$QE, q_df = fit$k - fit$p,
    pi_lb = pred$pi.lb, pi_ub = pred$pi.ub))
}
fit <- rma.mv(yi, vi, random = ~ 1 | study / esid, data = assink, method = "REML", control = tight_mv)
robust <- conf_int(fit, vcov = "CR2", cluster = assink$study, level = level / 100, test = "Satterthwaite")
multilevel$cr2 <- list(beta = robust$beta, se = robust$SE, df = robust$df,
                       ci_lb = robust$CI_L, ci_ub = robust$CI_U)

output <- list(
  metafor = as.character(packageVersion("metafor")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  generated_by = "scripts/metafor_results_reference.R",
  level = level,
  datasets = list(
    bcg = list(source = "metadat dat.bcg, log risk ratio", yi = as.numeric(bcg$yi),
               vi = as.numeric(bcg$vi), ablat = bcg$ablat),
    assink2016 = list(source = "metadat dat.assink2016, cluster = study", yi = assink$yi,
                      vi = assink$vi, cluster = as.character(assink$study))),
  univariate = univariate, metareg = metareg, multilevel = multilevel)
writeLines(toJSON(output, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/fixtures/metafor_results.json")
