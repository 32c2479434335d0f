# Reference for the forest plot grouped by trial (`compassmeta forest studies/trials.csv
# --cluster study_id`): metafor's three-level model on the curated trial rows.
# Effect sizes as scripts/report_data.R computes them: escalc(measure = "SMD") from the post
# means/SDs/ns or from Cohen's d and the ns, oriented so that positive favours the intervention.
# Run from the project folder:  Rscript scripts/metafor_trials_multilevel.R
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
source("scripts/report_data.R")  # trials with yi, vi (escalc SMD, oriented), as the report references
fit <- rma.mv(yi, vi, random = ~ 1 | study_id / es_id, data = trials, method = "REML",
              control = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14))
pred <- predict(fit)
out <- list(metafor = as.character(packageVersion("metafor")),
            es_id = trials$es_id, yi = as.numeric(trials$yi), vi = as.numeric(trials$vi),
            estimate = as.numeric(fit$b), ci_lower = fit$ci.lb, ci_upper = fit$ci.ub,
            pi_lower = pred$pi.lb, pi_upper = pred$pi.ub, sigma2 = fit$sigma2)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/fixtures/metafor_trials_multilevel.json")
