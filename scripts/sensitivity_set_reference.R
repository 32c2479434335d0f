# Reference values of the report's sensitivity set (issue 21) on ThirdWave (studies/thirdwave.csv):
# outliers removed (trial 95% CI outside the pooled 95% CI, Harrer et al. 2021 ch. 5) and
# influential cases removed (metafor influence()), REML (converged to 1e-12) with Wald z, as the report fits them.
#   Rscript scripts/sensitivity_set_reference.R > tests/fixtures/sensitivity_set_reference.json
.libPaths(c("/opt/rlib-current", .libPaths()))
library(metafor)
library(jsonlite)
d <- read.csv("studies/thirdwave.csv")
yi <- d$g; vi <- d$se^2
full <- rma(yi, vi, method = "REML", control = list(threshold = 1e-12, maxiter = 1000))
lo <- yi - qnorm(0.975) * sqrt(vi); hi <- yi + qnorm(0.975) * sqrt(vi)
out <- hi < full$ci.lb | lo > full$ci.ub
no_out <- rma(yi[!out], vi[!out], method = "REML", control = list(threshold = 1e-12, maxiter = 1000))
inf <- influence(full)$is.infl
no_inf <- rma(yi[!inf], vi[!inf], method = "REML", control = list(threshold = 1e-12, maxiter = 1000))
fit <- function(m) list(k = m$k, estimate = as.numeric(m$b), ci_lower = m$ci.lb, ci_upper = m$ci.ub)
cat(toJSON(list(metafor = as.character(packageVersion("metafor")),
                outliers = d$es_id[out], outliers_removed = fit(no_out),
                influential = d$es_id[inf], influential_removed = fit(no_inf)),
           auto_unbox = TRUE, digits = NA, pretty = TRUE), "\n")
