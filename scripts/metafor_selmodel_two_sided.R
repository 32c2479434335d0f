#!/usr/bin/env Rscript
# Reference values from metafor's selmodel() with alternative = "two.sided" (selection on
# two-sided p-values).
#
# Run from the project root:  Rscript scripts/metafor_selmodel_two_sided.R
# Writes tests/fixtures/metafor_selmodel_two_sided.json.  CI does not run it.  Data as in
# scripts/metafor_selmodel_reference.R (read from its fixture).  Step functions are fitted with
# optim's reltol = 1e-13; the smooth types with integrate() at rel.tol 1e-10 (1000 subdivisions)
# and nlminb (rel.tol 1e-10), as the tight refits there, or where nlminb stops with an error,
# optim's BFGS at reltol 1e-14, then metafor's defaults.  A fit that fails with all of them is
# recorded with its last message.
.libPaths(c("/opt/rlib-current", .libPaths()))  # metafor 5.1-12 before Debian's 3.8.1
suppressMessages({library(metafor); library(jsonlite)})

reference <- fromJSON(file.path("tests", "fixtures", "metafor_selmodel.json"), simplifyVector = FALSE)
datasets <- setNames(reference$datasets, vapply(reference$datasets, `[[`, "", "name"))
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
models <- list(
  list(type = "stepfun", steps = c(0.05)),
  list(type = "stepfun", steps = c(0.05, 0.5)),
  list(type = "beta", steps = NULL),
  list(type = "halfnorm", steps = NULL),
  list(type = "negexp", steps = NULL),
  list(type = "logistic", steps = NULL),
  list(type = "power", steps = NULL))
# Smooth types: tried in this order until one converges (the one used is recorded).
smooth_controls <- list(
  list(intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L), optimizer = "nlminb", iter.max = 10000, eval.max = 20000),
  list(intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L), reltol = 1e-14, maxit = 10000),
  list())

cases <- list()
for (name in c("hackshaw1998", "thirdwave")) for (method in c("ML", "FE")) for (m in models) {
  d <- datasets[[name]]
  controls <- if (m$type == "stepfun") list(list(reltol = 1e-13, maxit = 10000)) else smooth_controls
  for (control in controls) {
    args <- list(rma(unlist(d$yi), unlist(d$vi), method = method), type = m$type, alternative = "two.sided",
                 control = control)
    if (!is.null(m$steps)) args$steps <- m$steps
    warnings <- character(0)
    setTimeLimit(elapsed = 300, transient = TRUE)
    fit <- tryCatch(withCallingHandlers(do.call(selmodel, args), warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w)); invokeRestart("muffleWarning")}),
      error = function(e) conditionMessage(e))
    setTimeLimit(elapsed = Inf)
    if (!is.character(fit)) break
  }
  out <- list(data = name, method = method, type = m$type, steps = if (is.null(m$steps)) NA else m$steps,
              alternative = "two.sided", warnings = warnings, control = control)
  if (is.character(fit)) {
    out$error <- fit
  } else {
    out <- c(out, list(estimate = num(fit$beta), se = num(fit$se), tau2 = num(fit$tau2), tau2_se = num(fit$se.tau2),
                       delta = num(fit$delta), delta_se = num(fit$se.delta), lrt = num(fit$LRT),
                       log_likelihood = num(fit$ll), interval_k = if (is.data.frame(fit$ptable)) as.integer(fit$ptable$k) else NA))
  }
  cases[[length(cases) + 1]] <- out
  cat(name, method, m$type, if (is.character(fit)) "error" else "ok", "\n")
}
writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")), cases = cases),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_selmodel_two_sided.json"))
