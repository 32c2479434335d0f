#!/usr/bin/env Rscript
# metafor >= 4.2 holds a tau^2 estimate below min(vi/10, 1e-4) (selmodel's control tau2tol) at its
# value when it computes the Hessian of a selection model: no SE for tau^2, and the SEs of mu and the
# deltas are those of the model with tau^2 fixed.  Reference for that rule at current metafor (5.1-12).
#
# Run from the project root:  Rscript scripts/metafor_selmodel_tau2tol.R
# Needs metafor >= 5.1 in /opt/rlib-current (see helpers' notes), jsonlite.
# Writes tests/fixtures/metafor_selmodel_tau2tol.json with the metafor version.  CI reads the JSON.
# Data: simulated here (seed 7), homogeneous (true tau^2 = 0), a numerical check, not study data.
# The ML selection model's tau^2 goes to the boundary, where metafor and compassmeta stop at different
# tiny values (a flat likelihood); the fixed-effect selection model (tau^2 = 0) is the same model
# without that ambiguity, so its estimates and SEs are the reference at 1e-6.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "5.1")

set.seed(7)
k <- 30
vi <- runif(k, 0.02, 0.1)
yi <- rnorm(k, 0.3, sqrt(vi))
summary_of <- function(s) list(tau2 = s$tau2, estimate = as.numeric(s$beta), se = as.numeric(s$se),
                               tau2_se = s$se.tau2, delta = as.numeric(s$delta),
                               delta_se = as.numeric(s$se.delta), log_likelihood = s$ll)
ml <- selmodel(rma(yi, vi, method = "ML"), type = "stepfun", steps = 0.025)
fe <- selmodel(rma(yi, vi, method = "FE"), type = "stepfun", steps = 0.025)
writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")),
                       generated_by = "scripts/metafor_selmodel_tau2tol.R",
                       data = list(source = "simulated in the script (seed 7; true mu 0.3, tau^2 0)",
                                   yi = yi, vi = vi),
                       tau2tol = min(vi / 10, 1e-4), steps = 0.025,
                       ml = summary_of(ml), fe = summary_of(fe)),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_selmodel_tau2tol.json"))
cat("wrote tests/fixtures/metafor_selmodel_tau2tol.json\n")
