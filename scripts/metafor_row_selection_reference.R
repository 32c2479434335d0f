#!/usr/bin/env Rscript
# Reference values from metafor for row selection (issue 17): rows with a missing
# moderator dropped with a warning, --where subsets, and the common-tau^2 F test of a
# subgroup analysis under Knapp-Hartung.
#
# Run from the project root:  Rscript scripts/metafor_row_selection_reference.R
# (the open data from COMPASSMETA_MIRROR, else ../shared/data)
# Writes tests/fixtures/metafor_row_selection.json (CI reads the committed JSON only).
.libPaths(c("/opt/rlib-current", .libPaths()))  # metafor 5.1-12, the current version
suppressMessages({library(metafor); library(jsonlite)})

tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)
num <- function(x) as.numeric(x)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)

# metafor drops rows with a missing moderator and warns "2 studies with NAs omitted".
missing_rows <- c(2, 5)
ablat <- bcg$ablat
ablat[missing_rows] <- NA
warned <- NULL
fit <- withCallingHandlers(rma(bcg$yi, bcg$vi, mods = ~ ablat, method = "REML", control = tight),
                           warning = function(w) { warned <<- conditionMessage(w); invokeRestart("muffleWarning") })
metareg_missing <- list(yi = num(bcg$yi), vi = num(bcg$vi), ablat = bcg$ablat, missing_rows = missing_rows,
                        warning = warned, k = fit$k, estimate = num(fit$beta), se = num(fit$se),
                        qm = num(fit$QM), qm_p = num(fit$QMp), tau2 = num(fit$tau2))

# --where ablat>=30, --where "alloc in random,systematic", --where "alloc!=random"
subset_fit <- function(rows) {
  res <- rma(bcg$yi[rows], bcg$vi[rows], method = "REML", control = tight)
  list(k = res$k, estimate = num(res$beta), se = num(res$se), tau2 = num(res$tau2))
}
where <- list(
  list(clause = "ablat>=30", result = subset_fit(bcg$ablat >= 30)),
  list(clause = "ablat<30", result = subset_fit(bcg$ablat < 30)),
  list(clause = "alloc in random,systematic", result = subset_fit(bcg$alloc %in% c("random", "systematic"))),
  list(clause = "alloc!=random", result = subset_fit(bcg$alloc != "random")))

# ThirdWave (dmetar): subgroup by RiskOfBias under Knapp-Hartung; metafor's QM is F(1, 16).
mirror <- Sys.getenv("COMPASSMETA_MIRROR", file.path("..", "shared", "data"))
tw <- read.csv(file.path(mirror, "dmetar", "ThirdWave.csv"))
common <- rma(tw$TE, sei = tw$seTE, mods = ~ factor(tw$RiskOfBias), method = "REML", test = "knha",
              control = tight)
thirdwave_knha <- list(qm = num(common$QM), qm_df = num(common$QMdf), qm_p = num(common$QMp))

out <- list(metafor_version = as.character(packageVersion("metafor")),
            generated_by = "scripts/metafor_row_selection_reference.R",
            metareg_missing = metareg_missing, where = where, thirdwave_knha = thirdwave_knha)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "fixtures", "metafor_row_selection.json"))
