#!/usr/bin/env Rscript
# Reference fit statistics (metafor fitstats(): logLik, deviance, AIC, BIC, AICc) of the
# three-level and CHE models, ML and REML, with and without a moderator.
#
# Run from the project root:  Rscript scripts/metafor_multilevel_fitstats.R
# Reads the data sets of tests/fixtures/metafor_multilevel.json (written by
# scripts/metafor_multilevel_reference.R from metadat) and studies/trials.csv, and writes
# tests/fixtures/metafor_multilevel_fitstats.json.  Needs metafor >= 5.1 in /opt/rlib-current;
# the JSON records the version.  CI does not run this script; it reads the committed JSON.
#
# Model: rma.mv(yi, V, mods, random = ~ 1 | cluster/es_id), V = vcalc(vi, cluster, obs = es_id,
# rho = rho) (rho = 0: three-level; rho = 0.6: CHE, rho fixed, not a parameter).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "5.1")

source_fixture <- fromJSON("tests/fixtures/metafor_multilevel.json", simplifyVector = TRUE)
tight <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)
cases <- list()

# A data set of the multilevel fixture as a data frame (yi, vi, cluster, its moderators).
fixture_data <- function(name) {
  d <- source_fixture$datasets[[name]]
  dat <- data.frame(yi = d$yi, vi = d$vi, cluster = d$cluster, stringsAsFactors = FALSE)
  for (m in names(d$mods)) dat[[m]] <- d$mods[[m]]
  dat
}

run_case <- function(dataset, dat, rho, method, mods = character(), categorical = character()) {
  dat$es_id <- seq_len(nrow(dat))
  V <- vcalc(vi, cluster = cluster, obs = es_id, rho = rho, data = dat)
  form <- if (length(mods)) as.formula(paste("~", paste(ifelse(mods %in% categorical,
                                                                paste0("factor(", mods, ")"), mods),
                                                         collapse = " + "))) else ~ 1
  fit <- suppressWarnings(rma.mv(yi, V, mods = form, random = ~ 1 | cluster / es_id, data = dat,
                                 method = method, control = tight))
  fs <- fitstats(fit)
  cases[[length(cases) + 1]] <<- list(
    dataset = dataset, rho = rho, method = method, mods = mods, categorical = categorical,
    k = fit$k, p = fit$p, n_clusters = fit$s.nlevels[1], parms = fit$parms,
    sigma2 = as.numeric(fit$sigma2), sigma2_fix = as.logical(fit$vc.fix$sigma2),
    logLik = fs[1, 1], deviance = fs[2, 1], AIC = fs[3, 1], BIC = fs[4, 1], AICc = fs[5, 1])
}

# studies/trials.csv with yi, vi as scripts/report_data.R computes them (metafor escalc SMD,
# oriented), clustered by study_id: what `compassmeta pool studies/trials.csv --cluster study_id` fits.
source("scripts/report_data.R")
data_sets <- list(konstantopoulos2011 = fixture_data("konstantopoulos2011"),
                  assink2016 = fixture_data("assink2016"),
                  assink2016_covert = fixture_data("assink2016_covert"),
                  trials = data.frame(yi = trials$yi, vi = trials$vi, cluster = trials$study_id,
                                      year = trials$year, stringsAsFactors = FALSE))
for (rho in c(0, 0.6)) {
  for (method in c("ML", "REML")) {
    for (name in c("konstantopoulos2011", "trials")) {
      run_case(name, data_sets[[name]], rho, method)
      run_case(name, data_sets[[name]], rho, method, "year")
    }
    run_case("assink2016", data_sets$assink2016, rho, method)
    run_case("assink2016", data_sets$assink2016, rho, method, c("year", "deltype"), "deltype")
    # one cluster: sigma^2 between is fixed at 0 and is no parameter
    run_case("assink2016_covert", data_sets$assink2016_covert, rho, method)
  }
}

out <- list(metafor = as.character(packageVersion("metafor")),
            source = paste("data sets of tests/fixtures/metafor_multilevel.json (metadat) and",
                           "studies/trials.csv (yi, vi by scripts/report_data.R, cluster study_id)"),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/fixtures/metafor_multilevel_fitstats.json")
