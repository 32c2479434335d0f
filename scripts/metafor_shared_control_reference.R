# Reference for the shared control group's sampling covariance (issue 21): metafor's vcalc() with
# grp1/grp2/w1/w2 (Gleser & Olkin 2009) feeding rma.mv(yi, V, random = ~ 1 | trial/row), the
# three-level model (rho = 0) and the CHE model (rho = 0.6), plus clubSandwich CR2 on the CHE fit, and
# each model's Egger-type test (mods = ~ sqrt(vi) on the same V).
#
# Data 1 (tests/fixtures/shared_control_trials.csv): the rows of studies/trials.csv with
# Teale Sapach & Carleton's (2023) three-arm trial entered whole from
# studies/examples/tealesapach2022_trial.toml (`compassmeta trial add --replace`: self-compassion
# training and applied relaxation, each against the shared waitlist; Metapsy sad-psyctr), yi and
# vi as compassmeta computes them (Hedges' g).  Rows without arm labels take one comparison per
# trial (grp1 "T", grp2 "C", equal weights: the group term is 1) and their own obs.
# Data 2: metadat's dat.knapp2017 (several patient groups against one healthy control group),
# obs the task x difficulty combination as in metafor's help(vcalc).
# Run from the project folder:  Rscript scripts/metafor_shared_control_reference.R
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressPackageStartupMessages({library(metafor); library(metadat); library(clubSandwich); library(jsonlite)})

ctrl <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14)

# Egger's test for dependent effects (Rodgers & Pustejovsky 2021): the same model with the standard
# error as moderator, rma.mv(yi, V, mods = ~ sqrt(vi)), on the same V; CR2 as clubSandwich's coef_test.
# metafor's default optimizer (nlminb) here: on dat.knapp2017 with rho = 0.6 BFGS stops at a sigma^2
# between of 5e-8 with a lower log-likelihood than nlminb's 6e-10 (the boundary, 0).
egger <- function(dat, V) {
  fit <- rma.mv(yi, V, mods = ~ sqrt(vi), random = ~ 1 | cluster / row, data = dat, method = "REML")
  cr2 <- coef_test(fit, vcov = "CR2", cluster = dat$cluster, test = "Satterthwaite")
  list(beta = as.numeric(fit$b), se = fit$se, zval = fit$zval, pval = fit$pval, ci_lower = fit$ci.lb,
       ci_upper = fit$ci.ub, sigma2 = fit$sigma2, logLik = as.numeric(logLik(fit)),
       cr2_se = cr2$SE, cr2_df = cr2$df_Satt, cr2_pval = cr2$p_Satt)
}

fits <- function(dat, V_of) {
  out <- list()
  for (rho in c(0, 0.6)) {
    V <- V_of(rho)
    fit <- rma.mv(yi, V, random = ~ 1 | cluster / row, data = dat, method = "REML", control = ctrl)
    cr2 <- coef_test(fit, vcov = "CR2", cluster = dat$cluster, test = "Satterthwaite")
    idx <- which(V != 0 & row(V) < col(V), arr.ind = TRUE)
    out[[length(out) + 1]] <- list(
      rho = rho, estimate = as.numeric(fit$b), se = fit$se, zval = fit$zval, pval = fit$pval,
      ci_lower = fit$ci.lb, ci_upper = fit$ci.ub, sigma2 = fit$sigma2,
      logLik = as.numeric(logLik(fit)), QE = fit$QE,
      cr2_se = cr2$SE, cr2_df = cr2$df_Satt, egger = egger(dat, V),
      V_diag = diag(V), V_pairs = lapply(seq_len(nrow(idx)), function(r)
        c(idx[r, 1], idx[r, 2], V[idx[r, 1], idx[r, 2]])))
  }
  out
}

trials <- read.csv("tests/fixtures/shared_control_trials.csv", na.strings = "", stringsAsFactors = FALSE)
trials$cluster <- trials$study_id
trials$row <- trials$es_id
known <- !is.na(trials$arm) & !is.na(trials$control_arm)
measure <- paste(trials$outcome, trials$instrument, ifelse(is.na(trials$scs_component), "", trials$scs_component),
                 trials$timepoint, sep = "|")
trials$obs <- ifelse(known, measure, trials$es_id)
trials$grp1 <- ifelse(known, trials$arm, "T")
trials$grp2 <- ifelse(known, trials$control_arm, "C")
trials$w1 <- ifelse(known, trials$n1, 1)
trials$w2 <- ifelse(known, trials$n2, 1)
trials_fits <- fits(trials, function(rho)
  vcalc(vi, cluster = cluster, obs = obs, rho = rho, grp1 = grp1, grp2 = grp2, w1 = w1, w2 = w2, data = trials))

dat <- dat.knapp2017
dat$task.diff <- unlist(lapply(split(dat, dat$study), function(x) {
  task.int <- as.integer(factor(x$task))
  diff.int <- as.integer(factor(x$difficulty))
  diff.int[is.na(diff.int)] <- 1
  paste0(task.int, ".", diff.int)}))
dat$cluster <- dat$study
dat$row <- seq_len(nrow(dat))
knapp_fits <- fits(dat, function(rho)
  vcalc(vi, cluster = study, grp1 = group1, grp2 = group2, w1 = n_sz, w2 = n_hc, obs = task.diff, rho = rho,
        data = dat))

out <- list(metafor = as.character(packageVersion("metafor")),
            clubSandwich = as.character(packageVersion("clubSandwich")),
            metadat = as.character(packageVersion("metadat")),
            trials = list(es_id = trials$es_id, fits = trials_fits),
            knapp2017 = list(study = dat$study, group1 = dat$group1, group2 = dat$group2, n_sz = dat$n_sz,
                             n_hc = dat$n_hc, obs = dat$task.diff, yi = dat$yi, vi = dat$vi, fits = knapp_fits))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/fixtures/metafor_shared_control.json")
