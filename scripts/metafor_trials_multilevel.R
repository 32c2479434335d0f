# Reference for the forest plot grouped by trial (`compassmeta forest studies/trials.csv
# --cluster study_id`): metafor's three-level model on the curated trial rows.
# Effect sizes from escalc(measure = "SMD"): from the rows' post means/SDs/ns (stat_type "means")
# or from Cohen's d and the ns (stat_type "d"); oriented so that positive favours the
# intervention (sign flipped where higher_is_better is false).
# Run from the project folder:  Rscript scripts/metafor_trials_multilevel.R
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
trials <- read.csv("studies/trials.csv", stringsAsFactors = FALSE)
stopifnot(all(trials$stat_type %in% c("means", "d")))
trials$yi <- NA_real_
trials$vi <- NA_real_
by_means <- trials$stat_type == "means"
es <- escalc(measure = "SMD", m1i = mean1, sd1i = sd1, n1i = n1, m2i = mean2, sd2i = sd2, n2i = n2,
             data = trials[by_means, ])
trials$yi[by_means] <- es$yi
trials$vi[by_means] <- es$vi
by_d <- trials$stat_type == "d"
es <- escalc(measure = "SMD", di = statistic, n1i = n1, n2i = n2, data = trials[by_d, ])
trials$yi[by_d] <- es$yi
trials$vi[by_d] <- es$vi
flip <- tolower(trials$higher_is_better) == "false"
trials$yi[flip] <- -trials$yi[flip]
fit <- rma.mv(yi, vi, random = ~ 1 | study_id / es_id, data = trials, method = "REML",
              control = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14))
pred <- predict(fit)
out <- list(metafor = as.character(packageVersion("metafor")),
            es_id = trials$es_id, yi = as.numeric(trials$yi), vi = as.numeric(trials$vi),
            estimate = as.numeric(fit$b), ci_lower = fit$ci.lb, ci_upper = fit$ci.ub,
            pi_lower = pred$pi.lb, pi_upper = pred$pi.ub, sigma2 = fit$sigma2)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/fixtures/metafor_trials_multilevel.json")
