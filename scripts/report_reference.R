#!/usr/bin/env Rscript
# Reference values from metafor for the HTML report's numbers (tests/test_report_html.py).
#
# Run from the project root:  Rscript scripts/report_reference.R
# Writes tests/fixtures/report_reference.json.  Inputs are the shipped tables
# studies/trials.csv and studies/thirdwave.csv; effect sizes are computed here with escalc()
# (SMD: Hedges' g with the exact correction; from the means, or from Cohen's d and the ns for
# stat_type d rows), oriented so that positive favours the intervention.  Trials with several rows enter as one composite (mean of the rows, variance
# (sum v_i + r sum_{i != j} sqrt(v_i v_j)) / m^2, r = 0.5; Borenstein et al. 2009, ch. 24),
# written out here independently of compassmeta.  Models: rma(method = "REML"), Wald z,
# tight convergence.  Subsets where a trial contributes several rows: rma.mv(method = "REML",
# random = ~ 1 | study_id/es_id) (the three-level model), and with --rho 0.6 --ci-method cr2
# the CHE model (V = vcalc(vi, study_id, obs = es_id, rho = 0.6)) with clubSandwich CR2
# inference (metafor robust(clubSandwich = TRUE) + predict()).  I^2 per level as in metafor's
# FAQ (sigma^2_l over sum sigma^2 + (k - 1) / tr(P), W = diag(1 / vi)).  The 3PSM:
# selmodel(rma(method = "ML"), type = "stepfun", steps = 0.025) on one effect per trial.
# Keys follow the analysis plan (studies/analysis_plan.toml) as the report's JSON does:
# "OUTCOME | WINDOW | COMPARATOR"; one-trial subsets carry that trial's g, variance and Wald CI.
# "stress, two rows of one trial" is a constructed copy of thirdwave.csv in which the second
# trial's row is relabelled as a row of the first trial (a test of the dependent route with
# k >= 3 trials; not data).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(clubSandwich); library(jsonlite)})

ctrl <- list(threshold = 1e-12, maxiter = 10000)
source("scripts/report_data.R")  # trials, thirdwave (yi, vi) and composite()

pooled <- function(d) {
  fit <- rma(yi, vi, data = d, method = "REML", control = ctrl)
  pred <- predict(fit)
  list(k = fit$k, estimate = as.numeric(fit$beta), ci_lower = fit$ci.lb, ci_upper = fit$ci.ub,
       pi_lower = pred$pi.lb, pi_upper = pred$pi.ub, tau2 = fit$tau2, i2 = fit$I2, q = fit$QE)
}

tight_mv <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)

multilevel <- function(d, rho = NULL) {
  d$es_id <- seq_len(nrow(d))
  V <- if (is.null(rho)) d$vi else vcalc(vi, cluster = study_id, obs = es_id, rho = rho, data = d)
  fit <- rma.mv(yi, V, random = ~ 1 | study_id / es_id, data = d, method = "REML", control = tight_mv)
  W <- diag(1 / d$vi)
  X <- model.matrix(fit)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  i2 <- 100 * fit$sigma2 / (sum(fit$sigma2) + (fit$k - fit$p) / sum(diag(P)))
  pred <- predict(fit)
  out <- list(k = fit$k, n_clusters = fit$s.nlevels[1], estimate = as.numeric(fit$beta), ci_lower = fit$ci.lb,
              ci_upper = fit$ci.ub, pi_lower = pred$pi.lb, pi_upper = pred$pi.ub,
              sigma2_between = fit$sigma2[1], sigma2_within = fit$sigma2[2], i2_between = i2[1],
              i2_within = i2[2], q = fit$QE)
  if (!is.null(rho)) {  # CR2 inference
    rob <- robust(fit, cluster = d$study_id, clubSandwich = TRUE)
    pr <- predict(rob)
    out <- c(out[c("k", "n_clusters", "estimate", "sigma2_between", "sigma2_within", "q")],
             list(rho = rho, se = rob$se, df = as.numeric(rob$ddf), ci_lower = rob$ci.lb, ci_upper = rob$ci.ub,
                  p_value = rob$pval, pi_lower = pr$pi.lb, pi_upper = pr$pi.ub))
  }
  out
}

three_psm <- function(d) {
  sel <- selmodel(rma(yi, vi, data = d, method = "ML"), type = "stepfun", steps = 0.025)
  list(estimate = as.numeric(sel$beta), ci_lower = sel$ci.lb, ci_upper = sel$ci.ub, delta = sel$delta[2],
       lrt = sel$LRT, lrt_p = sel$LRTp)
}

# The plan's subsets (studies/analysis_plan.toml): outcome (the SCS total and each SCS component
# apart) x timepoint window x comparator, keyed as the report's JSON keys them.  Every row of
# trials.csv is an end-of-treatment ("post") row with a passive comparator, so each "| passive"
# subset holds the rows of its "| all" subset (the report marks it, not recomputed); ThirdWave
# (timepoint not coded: "unspecified") is its own section, never pooled with trials.csv.
stopifnot(all(trials$timepoint == "post"), all(trials$control_type == "passive"),
          all(thirdwave$timepoint == "unspecified"), all(thirdwave$control_type == "passive"))
# One trial: not pooled; its g and Wald 95% CI.
single <- function(d) {
  s <- composite(d)
  stopifnot(nrow(s) == 1)
  half <- qnorm(0.975) * sqrt(s$vi)
  list(k = 1, estimate = s$yi, vi = s$vi, ci_lower = s$yi - half, ci_upper = s$yi + half)
}
out <- list()
scs <- trials$outcome == "self-compassion"
for (component in unique(trials$scs_component[scs])) {
  out[[paste0("self-compassion: ", component, " | post | all")]] <- single(trials[scs & trials$scs_component == component, ])
}
depression <- composite(trials[trials$outcome == "depression", ])
out[["depression | post | all"]] <- pooled(depression)
# depression's numeric moderator, year (meta-regression on one effect per trial)
depression$year <- trials$year[match(depression$study_id, trials$study_id)]
reg <- rma(yi, vi, mods = ~ year, data = depression, method = "REML", control = ctrl)
out[["depression | post | all"]]$year <- list(k = reg$k, intercept = as.numeric(reg$beta[1]),
                                              slope = as.numeric(reg$beta[2]), slope_se = reg$se[2],
                                              qm = reg$QM, qm_p = reg$QMp, tau2 = reg$tau2)
# anxiety: koszycki2016 (2 rows) and tealesapach2022 (3 rows), the one dependent subset shipped
anxiety <- trials[trials$outcome == "anxiety", ]
out[["anxiety | post | all"]] <- multilevel(anxiety)
out[["anxiety | post | all, CHE rho 0.6, CR2"]] <- multilevel(anxiety, rho = 0.6)
for (wanted in c("stress", "quality_of_life", "grief")) {  # (a variable named 'outcome' would be read as the column)
  out[[paste(gsub("_", " ", wanted), "| post | all")]] <- single(trials[trials$outcome == wanted, ])
}

columns <- c("study_id", "yi", "vi", "format", "intervention_duration")
stress <- composite(thirdwave[, columns])
key <- "ThirdWave teaching data: stress | unspecified | all"
out[[key]] <- pooled(stress)
fit <- rma(yi, vi, data = stress, method = "REML", control = ctrl)
out[[key]]$three_psm <- three_psm(stress)
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

# The constructed dependent copy: the multilevel model on the rows; 3PSM and leave-one-out on
# one composite per trial.
paired <- thirdwave
paired$study_id[2] <- paired$study_id[1]
key <- "stress, two rows of one trial | all"
out[[key]] <- multilevel(paired)
paired_trials <- composite(paired)
out[[key]]$three_psm <- three_psm(paired_trials)
loo <- leave1out(rma(yi, vi, data = paired_trials, method = "REML", control = ctrl))
out[[key]]$leave_one_out_lowest <- min(loo$estimate)
out[[key]]$leave_one_out_highest <- max(loo$estimate)
# Egger's test on every row with the multilevel model (the standard error as moderator).
paired$es_id <- seq_len(nrow(paired))
egger_mv <- rma.mv(yi, vi, mods = ~ sqrt(vi), random = ~ 1 | study_id / es_id, data = paired, method = "REML",
                   control = tight_mv)
out[[key]]$egger_multilevel <- list(coefficient = as.numeric(egger_mv$beta[2]), se = egger_mv$se[2],
                                    p_value = egger_mv$pval[2])

# A numeric moderator (meta-regression, as the explorer runs it): sessions over all curated trials
# that report it, one composite per trial.
with_sessions <- trials[!is.na(trials$sessions), ]
by_trial <- composite(with_sessions)
by_trial$sessions <- with_sessions$sessions[match(by_trial$study_id, with_sessions$study_id)]
reg <- rma(yi, vi, mods = ~ sessions, data = by_trial, method = "REML", control = ctrl)
out[["curated trials | sessions"]] <- list(k = reg$k, intercept = as.numeric(reg$beta[1]),
                                           slope = as.numeric(reg$beta[2]), slope_se = reg$se[2],
                                           qm = reg$QM, qm_p = reg$QMp, tau2 = reg$tau2)

# reproduce's indicative values beside the review targets without study-level data (issue 27):
# the rows of trials.csv with the target's outcome (self-compassion: SCS totals only), one composite
# per trial; pooled (REML, Wald z) from two trials on, else the one trial's g and Wald 95% CI.
indicative <- list(
  depression = pooled(composite(trials[trials$outcome == "depression", ])),
  anxiety = pooled(composite(anxiety)),
  `self-compassion` = single(trials[trials$outcome == "self-compassion" & trials$scs_component == "total", ]),
  stress = single(trials[trials$outcome == "stress", ]))

writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")), subsets = out,
                       indicative = indicative),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/fixtures/report_reference.json")
