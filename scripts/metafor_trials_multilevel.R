# Reference for the forest plot grouped by trial (`compassmeta forest studies/trials.csv
# --cluster study_id`): metafor's three-level model on the curated trial rows.
# Effect sizes from escalc(measure = "SMD") on the rows' post means/SDs/ns (all rows are
# stat_type "means" with lower-is-better scales, so g is oriented as control - intervention).
# Run from the project folder:  Rscript scripts/metafor_trials_multilevel.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
trials <- read.csv("studies/trials.csv", stringsAsFactors = FALSE)
stopifnot(all(trials$stat_type == "means"), all(trials$higher_is_better == "false"))
es <- escalc(measure = "SMD", m1i = mean2, sd1i = sd2, n1i = n2, m2i = mean1, sd2i = sd1, n2i = n1,
             data = trials)
fit <- rma.mv(yi, vi, random = ~ 1 | study_id / es_id, data = es, method = "REML",
              control = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14))
pred <- predict(fit)
out <- list(metafor = as.character(packageVersion("metafor")),
            es_id = es$es_id, yi = as.numeric(es$yi), vi = as.numeric(es$vi),
            estimate = as.numeric(fit$b), ci_lower = fit$ci.lb, ci_upper = fit$ci.ub,
            pi_lower = pred$pi.lb, pi_upper = pred$pi.ub, sigma2 = fit$sigma2)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/fixtures/metafor_trials_multilevel.json")
