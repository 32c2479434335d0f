#!/usr/bin/env Rscript
# Reference values from metafor rma.mv for the report's multivariate models (report/joint_models.py;
# tests/test_report_multivariate.py), on the constructed table tests/fixtures/report_multivariate_crafted.csv
# (eight constructed trials reporting both SCS components and the BDI-II at post and follow-up; not data).
#
# Run from the project root:  Rscript scripts/report_multivariate_reference.R
# Writes tests/fixtures/report_multivariate_reference.json.  Effect sizes as scripts/report_data.R
# computes them.  Models (REML, Wald z, fitted tightly):
#   components, per window: rma.mv(yi, V, mods = ~ 0 + scs_component, random = ~ scs_component | study_id,
#     struct = "UN"), V = vcalc(vi, cluster = study_id, obs = scs_component, rho = 0.6) (the plan's rho);
#     the contrast compassionate - uncompassionate by anova(fit, X = c(1, -1));
#   trajectory, per outcome (the SCS components apart): rma.mv(yi, vi, mods = ~ 0 + window,
#     random = ~ time | study_id, struct = "AR"), time 1 = post, 2 = short follow-up.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
trials_path <- "tests/fixtures/report_multivariate_crafted.csv"
source("scripts/report_data.R")
tight <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)
trials$window <- ifelse(trials$timepoint == "post", "post", "short follow-up")  # 12 weeks after the end
trials$time <- ifelse(trials$window == "post", 1, 2)

summary_of <- function(fit) {
  list(k = fit$k, n_clusters = fit$g.nlevels[2], struct = fit$struct[1],
       coefficients = lapply(seq_along(fit$beta), function(i) list(
         term = rownames(fit$beta)[i], estimate = fit$beta[i], se = fit$se[i], ci_lower = fit$ci.lb[i],
         ci_upper = fit$ci.ub[i], p_value = fit$pval[i])),
       tau2 = as.list(fit$tau2), rho = as.list(fit$rho), log_likelihood = as.numeric(logLik(fit)))
}

out <- list()
for (w in c("post", "short follow-up")) {
  d <- trials[trials$outcome == "self-compassion" & trials$window == w &
              trials$scs_component %in% c("compassionate", "uncompassionate"), ]
  V <- vcalc(vi, cluster = study_id, obs = scs_component, rho = 0.6, data = d)
  fit <- rma.mv(yi, V, mods = ~ 0 + scs_component, random = ~ scs_component | study_id, struct = "UN",
                data = d, method = "REML", control = tight)
  s <- summary_of(fit)
  a <- anova(fit, X = c(1, -1))
  s$contrasts <- list(list(label = "compassionate-uncompassionate", estimate = as.numeric(a$Xb),
                           se = as.numeric(a$se), p_value = as.numeric(a$pval),
                           ci_lower = as.numeric(a$Xb) - qnorm(0.975) * as.numeric(a$se),
                           ci_upper = as.numeric(a$Xb) + qnorm(0.975) * as.numeric(a$se)))
  out[[paste("components | self-compassion |", w)]] <- s
}
groups <- list("self-compassion: compassionate" = trials$scs_component == "compassionate",
               "self-compassion: uncompassionate" = trials$scs_component == "uncompassionate",
               "depression" = trials$outcome == "depression")
for (name in names(groups)) {
  d <- trials[groups[[name]], ]
  fit <- rma.mv(yi, vi, mods = ~ 0 + window, random = ~ time | study_id, struct = "AR", data = d,
                method = "REML", control = tight)
  out[[paste("trajectory |", name, "| post, short follow-up")]] <- summary_of(fit)
}

writeLines(toJSON(list(generated_by = "scripts/report_multivariate_reference.R",
                       metafor_version = as.character(packageVersion("metafor")), models = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/fixtures/report_multivariate_reference.json")
