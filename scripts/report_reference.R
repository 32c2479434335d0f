#!/usr/bin/env Rscript
# Reference values from metafor for the HTML report's numbers (tests/test_report_html.py).
#
# Run from the project root:  Rscript scripts/report_reference.R
# Writes tests/fixtures/report_reference.json.  Inputs are the shipped tables
# studies/trials.csv and studies/thirdwave.csv; effect sizes are computed here with escalc()
# (SMD: Hedges' g with the exact correction), oriented so that positive favours the
# intervention.  Trials with several rows enter as one composite (mean of the rows, variance
# (sum v_i + r sum_{i != j} sqrt(v_i v_j)) / m^2, r = 0.5; Borenstein et al. 2009, ch. 24),
# written out here independently of compassmeta.  Models: rma(method = "REML"), Wald z,
# tight convergence.
suppressMessages({library(metafor); library(jsonlite)})

ctrl <- list(threshold = 1e-12, maxiter = 10000)
trials <- read.csv("studies/trials.csv", stringsAsFactors = FALSE)
trials <- escalc(measure = "SMD", m1i = mean1, sd1i = sd1, n1i = n1, m2i = mean2, sd2i = sd2, n2i = n2,
                 data = trials)
flip <- tolower(trials$higher_is_better) == "false"
trials$yi[flip] <- -trials$yi[flip]
thirdwave <- read.csv("studies/thirdwave.csv", stringsAsFactors = FALSE)
thirdwave$yi <- thirdwave$g
thirdwave$vi <- thirdwave$se^2

composite <- function(d, r = 0.5) {
  do.call(rbind, lapply(split(d, factor(d$study_id, levels = unique(d$study_id))), function(s) {
    m <- nrow(s); roots <- sqrt(s$vi)
    data.frame(study_id = s$study_id[1], yi = mean(s$yi),
               vi = (sum(s$vi) + r * (sum(roots)^2 - sum(s$vi))) / m^2,
               format = s$format[1], intervention_duration = s$intervention_duration[1])
  }))
}

pooled <- function(d) {
  fit <- rma(yi, vi, data = d, method = "REML", control = ctrl)
  pred <- predict(fit)
  list(k = fit$k, estimate = as.numeric(fit$beta), ci_lower = fit$ci.lb, ci_upper = fit$ci.ub,
       pi_lower = pred$pi.lb, pi_upper = pred$pi.ub, tau2 = fit$tau2, i2 = fit$I2, q = fit$QE)
}

out <- list()
for (wanted in c("depression", "anxiety")) {  # (a loop variable named 'outcome' would be read as the column)
  out[[paste(wanted, "| all")]] <- pooled(composite(trials[trials$outcome == wanted, ]))
}
stress <- composite(thirdwave)
key <- "stress | all"
out[[key]] <- pooled(stress)
fit <- rma(yi, vi, data = stress, method = "REML", control = ctrl)
out[[key]]$egger_p <- regtest(fit, model = "lm")$pval
tf <- trimfill(fit)
out[[key]]$trimfill_k0 <- tf$k0
out[[key]]$trimfill_estimate <- as.numeric(tf$beta)
loo <- leave1out(fit)
out[[key]]$leave_one_out_lowest <- min(loo$estimate)
out[[key]]$leave_one_out_highest <- max(loo$estimate)
for (moderator in c("format", "intervention_duration")) {
  levels <- sort(unique(stress[[moderator]]))
  out[[key]][[paste0("subgroups_", moderator)]] <- setNames(lapply(levels, function(level) {
    as.numeric(rma(yi, vi, data = stress[stress[[moderator]] == level, ], method = "REML",
                   control = ctrl)$beta)
  }), levels)
}

# A numeric moderator (meta-regression, as the explorer runs it): sessions over all curated trials
# that report it, one composite per trial.
with_sessions <- trials[!is.na(trials$sessions), ]
by_trial <- composite(with_sessions)
by_trial$sessions <- with_sessions$sessions[match(by_trial$study_id, with_sessions$study_id)]
reg <- rma(yi, vi, mods = ~ sessions, data = by_trial, method = "REML", control = ctrl)
out[["curated trials | sessions"]] <- list(k = reg$k, intercept = as.numeric(reg$beta[1]),
                                           slope = as.numeric(reg$beta[2]), slope_se = reg$se[2],
                                           qm = reg$QM, qm_p = reg$QMp, tau2 = reg$tau2)

writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")), subsets = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/fixtures/report_reference.json")
