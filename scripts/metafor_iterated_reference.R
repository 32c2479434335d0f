#!/usr/bin/env Rscript
# Reference values for metafor's iterated tau^2 estimators DLIT and SJIT (rma.uni).
#
# Run from the project root:  Rscript scripts/metafor_iterated_reference.R
# Needs metafor 5.1-12 (DLIT iterates tau^2 <- (Q - tr(PV)) / tr(P) since metafor 4.6; 3.8 iterated
# (Q - (k - p)) / tr(P)); a private library /opt/rlib-current is searched first when present.
# Writes tests/fixtures/metafor_iterated.json.  CI does not run it.
# Both estimators iterate to a fixed point and stop when tau^2 changes by less than
# control$threshold (default 1e-5, which leaves DLIT up to 1e-4 from its fixed point: it
# converges slowly; with the default maxiter of 100 it can stop with an error); the fixture is made
# with threshold 1e-13 (maxiter 10000), and also records the default fit; a fit that stops with an
# error (an estimator can fail to settle) is recorded with its message.
# Data: dat.bcg (log risk ratios, with and without the moderator ablat), dat.hackshaw1998, and
# studies/thirdwave.csv (g, se^2).  Leave-one-out fits of dat.bcg test the batched engine (NA where
# the estimator does not converge).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "4.6")

tight <- list(threshold = 1e-13, maxiter = 10000)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
thirdwave <- read.csv(file.path("studies", "thirdwave.csv"))
datasets <- list(
  bcg = list(source = "metadat dat.bcg, log risk ratio (escalc RR)", yi = as.numeric(bcg$yi),
             vi = as.numeric(bcg$vi), ablat = bcg$ablat),
  hackshaw1998 = list(source = "metadat dat.hackshaw1998 (yi, vi)", yi = dat.hackshaw1998$yi,
                      vi = dat.hackshaw1998$vi),
  thirdwave = list(source = "studies/thirdwave.csv (g, se^2)", yi = thirdwave$g, vi = thirdwave$se^2))

attempt <- function(fit) tryCatch(values(fit()), error = function(e) list(error = conditionMessage(e)))
values <- function(fit) list(tau2 = fit$tau2, beta = as.numeric(fit$beta), se = as.numeric(fit$se),
                             ci_lower = as.numeric(fit$ci.lb), ci_upper = as.numeric(fit$ci.ub),
                             p_value = as.numeric(fit$pval), q = fit$QE, i2 = fit$I2)
cases <- list()
for (name in names(datasets)) for (method in c("DLIT", "SJIT")) for (mods in c(FALSE, TRUE)) {
  d <- datasets[[name]]
  if (mods && is.null(d$ablat)) next
  fit_with <- function(control) if (mods) rma(d$yi, d$vi, mods = ~ d$ablat, method = method, control = control)
                                else rma(d$yi, d$vi, method = method, control = control)
  cases[[length(cases) + 1]] <- c(list(data = name, method = method, mods = if (mods) "ablat" else NA),
                                  attempt(function() fit_with(tight)),
                                  list(default = attempt(function() fit_with(list()))))
}
# metafor stops with an error when an iteration has not settled within maxiter steps
refused <- lapply(c("DLIT", "SJIT"), function(method) {
  list(data = "bcg", method = method, maxiter = 3, error = tryCatch({
    rma(bcg$yi, bcg$vi, method = method, control = list(threshold = 1e-13, maxiter = 3)); NA
  }, error = function(e) conditionMessage(e)))
})
leave_one_out <- lapply(c("DLIT", "SJIT"), function(method) {
  list(method = method, tau2 = sapply(seq_along(bcg$yi), function(i)
    tryCatch(rma(bcg$yi[-i], bcg$vi[-i], method = method, control = tight)$tau2, error = function(e) NA)))
})
writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")), datasets = datasets,
                       cases = cases, refused = refused, bcg_leave_one_out = leave_one_out),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_iterated.json"))
cat("wrote", length(cases), "cases\n")
