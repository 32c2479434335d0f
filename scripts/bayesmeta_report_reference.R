#!/usr/bin/env Rscript
# Reference values from R's bayesmeta for the Bayesian estimates of the HTML report's pooled
# subsets (report/evidence.py; tests/test_report_grade.py).
#
# Run from the project root:  Rscript scripts/bayesmeta_report_reference.R
# Writes tests/fixtures/bayesmeta_report.json.  The subsets' effects (one per trial: a trial's
# rows as one composite) come from scripts/report_data.R, as in scripts/report_reference.R.  The
# model is the analysis plan's ([bayes] tau_prior = "halfnormal:0.5", flat prior on mu):
# bayesmeta(y, sigma, tau.prior = function(t) dhalfnormal(t, scale = 0.5)).  Recorded: mu's
# posterior median and 95% central interval, the 95% central predictive interval, tau's posterior
# median and 95% central interval, P(mu > 0) and P(mu > 0.2) (qposterior / pposterior).
# CI does not run this script; it reads the committed JSON.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(bayesmeta); library(metafor); library(jsonlite)})
source("scripts/report_data.R")

fit_subset <- function(d) {
  fit <- bayesmeta(y = d$yi, sigma = sqrt(d$vi), labels = d$study_id,
                   tau.prior = function(t) dhalfnormal(t, scale = 0.5))
  list(k = nrow(d), yi = d$yi, vi = d$vi,
       estimate = fit$qposterior(mu.p = 0.5),
       ci_lower = fit$qposterior(mu.p = 0.025), ci_upper = fit$qposterior(mu.p = 0.975),
       pi_lower = fit$qposterior(mu.p = 0.025, predict = TRUE),
       pi_upper = fit$qposterior(mu.p = 0.975, predict = TRUE),
       tau = fit$qposterior(tau.p = 0.5), tau_ci_lower = fit$qposterior(tau.p = 0.025),
       tau_ci_upper = fit$qposterior(tau.p = 0.975),
       prob_above_0 = 1 - fit$pposterior(mu = 0), prob_above_02 = 1 - fit$pposterior(mu = 0.2))
}

out <- list(
  "depression | post | all" = fit_subset(composite(trials[trials$outcome == "depression", ])),
  "anxiety | post | all" = fit_subset(composite(trials[trials$outcome == "anxiety", ])),
  "ThirdWave teaching data: stress | unspecified | all" = fit_subset(composite(thirdwave)))

writeLines(toJSON(list(generated_by = "scripts/bayesmeta_report_reference.R",
                       bayesmeta_version = as.character(packageVersion("bayesmeta")),
                       metafor_version = as.character(packageVersion("metafor")),
                       tau_prior = "halfnormal:0.5", mu_prior = "uniform", subsets = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/fixtures/bayesmeta_report.json")
