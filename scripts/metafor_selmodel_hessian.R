#!/usr/bin/env Rscript
# How much metafor's own selmodel() standard errors move with integrate()'s tolerance.
#
# Run from the project root, after scripts/metafor_selmodel_reference.R:
#   Rscript scripts/metafor_selmodel_hessian.R
# Writes tests/fixtures/metafor_selmodel_hessian.json.  CI does not run it.  For the two-sided
# fits of scripts/metafor_selmodel_two_sided.R:
#   Rscript scripts/metafor_selmodel_hessian.R tests/fixtures/metafor_selmodel_two_sided.json \
#       tests/fixtures/metafor_selmodel_two_sided_hessian.json
#
# For every smooth selection model of tests/fixtures/metafor_selmodel.json that has a tight fit,
# metafor's Hessian is recomputed at that fit's estimates exactly as selmodel() computes it
# (numDeriv::hessian, r = 6, of metafor:::.selmodel.ll.cont on the natural scale, the
# hessianCtrl and htransf = FALSE defaults), with integrate() at rel.tol 1e-8, 1e-10 and 1e-12
# (1000 subdivisions), and the standard errors of (estimate, tau2 under ML, deltas) are recorded
# for each tolerance.  Where the three disagree, metafor's SE is itself undetermined at that
# precision (the tests compare compassmeta with the spread, not with one of them).
# Written for metafor 5.1-12 (the private library /opt/rlib-current comes first); 5.1 renamed the
# internal arguments (delta.val/tau2.val/beta.val -> delta.arg/tau2.arg/beta.arg) and added subset
# (all studies here) and decreasing (FALSE: the smooth types have no decreasing constraint).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})

arguments <- commandArgs(trailingOnly = TRUE)
input <- if (length(arguments) == 2) arguments[1] else file.path("tests", "fixtures", "metafor_selmodel.json")
output <- if (length(arguments) == 2) arguments[2] else file.path("tests", "fixtures", "metafor_selmodel_hessian.json")
reference <- fromJSON(input, simplifyVector = FALSE)
# the data sets are those of the main fixture
main <- fromJSON(file.path("tests", "fixtures", "metafor_selmodel.json"), simplifyVector = FALSE)
datasets <- setNames(main$datasets, vapply(main$datasets, `[[`, "", "name"))
tolerances <- c(1e-8, 1e-10, 1e-12)

standard_errors <- function(fit, point, tau2_fixed, rel_tol) {
  hessian <- numDeriv::hessian(metafor:::.selmodel.ll.cont, x = point, method.args = list(r = 6),
    yi = fit$yi, vi = fit$vi, X = fit$X, preci = rep(1, fit$k), subset = rep(TRUE, fit$k), k = fit$k, pX = 1,
    pvals = fit$pvals, deltas = fit$deltas, delta.arg = rep(NA, fit$deltas), delta.transf = FALSE, mapfun = NA,
    delta.min = fit$delta.min, delta.max = fit$delta.max, decreasing = FALSE,
    tau2.arg = if (tau2_fixed) 0 else NA, tau2.transf = FALSE, tau2.max = fit$tau2.max, beta.arg = NA,
    wi.fun = fit$wi.fun, steps = fit$steps, pgrp = fit$pgrp, alternative = fit$alternative,
    pval.min = fit$pval.min, intCtrl = list(lower = -Inf, upper = Inf, subdivisions = 1000L, rel.tol = rel_tol),
    verbose = FALSE, digits = fit$digits)
  estimated <- c(TRUE, !tau2_fixed, rep(TRUE, fit$deltas))
  inverse <- try(chol2inv(chol(hessian[estimated, estimated, drop = FALSE])), silent = TRUE)
  if (inherits(inverse, "try-error")) return(NA)
  sqrt(diag(inverse))
}

cases <- list()
for (case in reference$cases) {
  tight <- if (is.null(case$tight)) case else case$tight   # the two-sided fixture holds the tight fit itself
  if (case$type == "stepfun" || !is.null(case$error) || !is.null(tight$error)) next
  d <- datasets[[case$data]]
  args <- list(rma(unlist(d$yi), unlist(d$vi), method = case$method), type = case$type,
               alternative = case$alternative, skiphes = TRUE)
  if (!is.null(case$steps)) args$steps <- unlist(case$steps)
  fit <- suppressWarnings(do.call(selmodel, args))  # its weight function, p-values and bounds
  tau2_fixed <- case$method == "FE"
  point <- c(tight$estimate, if (tau2_fixed) 0 else tight$tau2, unlist(tight$delta))
  se <- lapply(tolerances, function(tol) {
    value <- try(standard_errors(fit, point, tau2_fixed, tol), silent = TRUE)
    if (inherits(value, "try-error")) NA else value
  })
  names(se) <- format(tolerances)
  cases[[length(cases) + 1]] <- list(data = case$data, method = case$method, type = case$type,
    steps = if (is.null(case$steps)) NA else case$steps, alternative = case$alternative, se_by_rel_tol = se)
  cat(case$data, case$method, case$type, case$alternative, "\n")
}
out <- list(metafor_version = as.character(packageVersion("metafor")),
            numderiv_version = as.character(packageVersion("numDeriv")), r_version = R.version.string,
            parameters = "estimate, tau2 (ML only), deltas", cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), output)
cat("wrote", length(cases), "cases\n")
