#!/usr/bin/env Rscript
# metafor >= 4.6 fits a selection model whose p-value intervals include one without any study (with
# the warning "One or more intervals do not contain any observed p-values"); metafor 3.x stopped with
# an error.  Reference values at current metafor for the cases of tests/fixtures/metafor_selmodel.json
# that metafor 3.8.1 refused (same data, metafor's default settings).
#
# Run from the project root:  Rscript scripts/metafor_selmodel_empty_intervals.R
# Writes tests/fixtures/metafor_selmodel_empty_intervals.json with the metafor version.  CI reads the JSON.
.libPaths(c("/opt/rlib-current", .libPaths()))  # metafor 5.1-12 before Debian's 3.8.1
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "4.6")

num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
reference <- fromJSON(file.path("tests", "fixtures", "metafor_selmodel.json"), simplifyVector = FALSE)
datasets <- setNames(reference$datasets, vapply(reference$datasets, `[[`, "", "name"))
cases <- list()
for (case in reference$cases) {
  if (is.null(case$error) || !grepl("not contain any observed", case$error)) next
  data <- datasets[[case$data]]
  fit <- rma(unlist(data$yi), unlist(data$vi), method = case$method)
  args <- list(fit, type = case$type, alternative = case$alternative, steps = unlist(case$steps))
  warnings <- character(0)
  model <- withCallingHandlers(do.call(selmodel, args), warning = function(w) {
    warnings <<- c(warnings, conditionMessage(w)); invokeRestart("muffleWarning")})
  cases[[length(cases) + 1]] <- c(case[c("data", "method", "type", "steps", "alternative")], list(
    estimate = num(model$beta), se = num(model$se), tau2 = num(model$tau2), delta = num(model$delta),
    delta_se = num(model$se.delta), log_likelihood = num(model$ll), interval_k = as.integer(model$ptable$k),
    warnings = warnings))
}
writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")), r_version = R.version.string,
                       generated_by = "scripts/metafor_selmodel_empty_intervals.R", cases = cases),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_selmodel_empty_intervals.json"))
cat("wrote", length(cases), "cases\n")
