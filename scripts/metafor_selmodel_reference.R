#!/usr/bin/env Rscript
# Reference values from metafor's selmodel() (selection models for publication bias).
#
# Run from the project root:  Rscript scripts/metafor_selmodel_reference.R
# Writes tests/fixtures/metafor_selmodel.json.  CI does not run it.  The tight smooth refits take
# minutes each; to use both cores, run one data set per process,
#   Rscript scripts/metafor_selmodel_reference.R hackshaw1998 /tmp/part1.json   (etc.)
# and join the parts' "cases" in data-set order (the fixture was made so).  A fit that takes
# longer than 120 s of CPU time is stopped and recorded as an error (CPU, not elapsed, time: the
# result must not depend on the machine's load).  Each case's progress is printed to standard error.  Every fit is metafor's
# default (optim BFGS, numDeriv Hessian); a fit that stops with an error is recorded with
# its message, and warnings are recorded with the values.  Every case is fitted twice: with
# metafor's defaults, and ("tight") with optim's reltol = 1e-13 (stepfun) or, for the smooth types,
# with integrate() at rel.tol = 1e-12 (1000 subdivisions) and optim's reltol = 1e-14, because the
# default BFGS stop (reltol 1e-8 on the log-likelihood) and integrate()'s default rel.tol (1.2e-4)
# leave the estimates 1e-5 to 1e-3 from the maximum.  Where the tight smooth fit stops with an
# error, it is retried with integrate()'s rel.tol = 1e-10 and nlminb (its default rel.tol 1e-10),
# then with rel.tol = 1e-8 and optim's reltol = 1e-12; the settings that gave the values are recorded in tight$control.  A smooth case whose default fit
# fails is not refitted.
.libPaths(c("/opt/rlib-current", .libPaths()))  # metafor 5.1-12 before Debian's 3.8.1
suppressMessages({library(metafor); library(jsonlite)})

num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)

# Data rounded to the 15 significant digits that the JSON keeps.
datasets <- list()
add <- function(name, yi, vi, source) datasets[[name]] <<- list(
  name = name, source = source, yi = signif(as.numeric(yi), 15), vi = signif(as.numeric(vi), 15))
add("hackshaw1998", dat.hackshaw1998$yi, dat.hackshaw1998$vi, "metadat dat.hackshaw1998 (yi, vi)")
add("baskerville2012", dat.baskerville2012$smd, dat.baskerville2012$se^2,
    "metadat dat.baskerville2012 (smd, se^2)")
bd <- dat.bangertdrowns2004[!is.na(dat.bangertdrowns2004$yi), ]
add("bangertdrowns2004", bd$yi, bd$vi, "metadat dat.bangertdrowns2004 (yi, vi)")
tw <- read.csv(file.path("studies", "thirdwave.csv"))
add("thirdwave", tw$g, tw$se^2, "studies/thirdwave.csv (g, se^2)")

models <- list(
  list(type = "stepfun", steps = c(0.025)),
  list(type = "stepfun", steps = c(0.025, 0.5)),
  list(type = "stepfun", steps = c(0.05, 0.5)),
  list(type = "beta", steps = NULL),
  list(type = "halfnorm", steps = NULL),
  list(type = "negexp", steps = NULL),
  list(type = "logistic", steps = NULL),
  list(type = "power", steps = NULL),
  list(type = "halfnorm", steps = c(0.05)),
  list(type = "negexp", steps = c(0.05)))

values <- function(args) {
  warnings <- character(0)
  setTimeLimit(cpu = 120, transient = TRUE)
  on.exit(setTimeLimit(cpu = Inf))
  fit <- tryCatch(withCallingHandlers(do.call(selmodel, args), warning = function(w) {
    warnings <<- c(warnings, conditionMessage(w)); invokeRestart("muffleWarning")}),
    error = function(e) conditionMessage(e))
  out <- list(warnings = warnings)
  if (is.character(fit)) {
    out$error <- fit
  } else {
    out$estimate <- num(fit$beta); out$se <- num(fit$se); out$ci_lower <- num(fit$ci.lb)
    out$ci_upper <- num(fit$ci.ub); out$p_value <- num(fit$pval)
    out$tau2 <- num(fit$tau2); out$tau2_se <- num(fit$se.tau2)
    out$delta <- num(fit$delta); out$delta_se <- num(fit$se.delta)
    out$lrt <- num(fit$LRT); out$lrt_df <- num(fit$LRTdf); out$lrt_p <- num(fit$LRTp)
    out$lrt_tau2 <- num(fit$LRT.tau2); out$lrt_tau2_p <- num(fit$LRTp.tau2)
    out$log_likelihood <- num(fit$ll); out$log_likelihood_unadjusted <- num(fit$ll0); out$k <- fit$k
    out$interval_k <- if (is.data.frame(fit$ptable)) as.integer(fit$ptable$k) else NA
    out$steps_used <- num(fit$steps)
  }
  out
}

smooth_tight <- list(
  list(intCtrl = list(rel.tol = 1e-12, subdivisions = 1000L), reltol = 1e-14, maxit = 10000),
  list(intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L), optimizer = "nlminb", iter.max = 10000,
       eval.max = 20000),
  list(intCtrl = list(rel.tol = 1e-8, subdivisions = 1000L), reltol = 1e-12, maxit = 10000))
arguments <- commandArgs(trailingOnly = TRUE)
if (length(arguments) == 2) datasets <- datasets[arguments[1]]
cases <- list()
for (d in datasets) for (method in c("ML", "FE")) for (m in models) for (alternative in c("greater", "less")) {
  if (alternative == "less" && !(m$type == "stepfun" && length(m$steps) == 1) && m$type != "halfnorm") next
  res <- rma(d$yi, d$vi, method = method)
  args <- list(res, type = m$type, alternative = alternative)
  if (!is.null(m$steps)) args$steps <- m$steps
  out <- list(data = d$name, method = method, type = m$type, steps = if (is.null(m$steps)) NA else m$steps,
              alternative = alternative)
  out <- c(out, values(args))
  if (m$type == "stepfun") {
    out$tight <- values(c(args, list(control = list(reltol = 1e-13, maxit = 10000))))
  } else if (is.null(out$error)) {
    for (control in smooth_tight) {
      out$tight <- c(values(c(args, list(control = control))), list(control = control))
      if (is.null(out$tight$error)) break
    }
  }
  cases[[length(cases) + 1]] <- out
  message(format(Sys.time()), " ", d$name, " ", method, " ", m$type, " ", paste(m$steps, collapse = ","), " ",
          alternative, " done")
}

# Timing of one 3PSM on k = 50 for scripts/bench_selection.py is measured there, not here.
out <- list(metafor_version = as.character(packageVersion("metafor")), r_version = R.version.string,
            datasets = unname(lapply(datasets, function(d) d[c("name", "source", "yi", "vi")])), cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           if (length(arguments) == 2) arguments[2] else file.path("tests", "fixtures", "metafor_selmodel.json"))
cat("wrote", length(cases), "cases\n")
