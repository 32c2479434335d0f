#!/usr/bin/env Rscript
# Reference values for the inference gaps of issue 25 closed after the toolbox:
#  * robust(res, cluster = 1:k, clubSandwich = TRUE, vcov = "CR0"/"CR1"/"CR2") of the univariate
#    meta-regressions of tests/fixtures/metafor_inference.json: the moderator test (clubSandwich
#    Wald_test(test = "HTZ"), metafor's QM, QMdf, QMp);
#  * the three-level / CHE model (rma.mv(yi, vcalc(vi, cluster, obs, rho), mods, random = ~ 1 |
#    cluster/es_id)) of tests/fixtures/metafor_multilevel.json's data: anova(btt =) under z and t,
#    clubSandwich Wald_test(vcov = "CR2", test = "HTZ") of the same terms, predict(newmods =) and
#    anova(full, reduced) of ML fits without a moderator.
#
# Run from the project root:  Rscript scripts/metafor_infer_gaps_reference.R
# Needs metafor >= 5.1 in /opt/rlib-current (see helpers' notes), clubSandwich, jsonlite.
# Writes tests/fixtures/metafor_infer_gaps.json with the package versions.  CI reads the JSON.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite); library(clubSandwich)})
stopifnot(packageVersion("metafor") >= "5.1")

num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)
fixture <- function(name) fromJSON(file.path("tests", "fixtures", name), simplifyVector = FALSE)

# ---- robust moderator tests of univariate meta-regressions -------------------------------------
inference <- fixture("metafor_inference.json")
uni_data <- setNames(inference$datasets, sapply(inference$datasets, function(d) d$name))
tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)   # as metafor_inference_reference.R
robust_tests <- list()
for (case in inference$metareg) if (!is.null(case$robust)) {
  d <- uni_data[[case$data]]
  mods <- unlist(case$mods)
  frame <- as.data.frame(lapply(d$mods[mods], unlist), stringsAsFactors = FALSE)
  for (name in mods) if (!is.numeric(frame[[name]])) frame[[name]] <- factor(frame[[name]])
  form <- as.formula(paste("~", paste(mods, collapse = " + ")))
  res <- rma(unlist(d$yi), unlist(d$vi), mods = form, data = frame, method = case$method,
             test = case$test, control = tight)
  for (type in c("CR0", "CR1", "CR2")) {
    rb <- robust(res, cluster = seq_len(res$k), clubSandwich = TRUE, vcov = type)
    robust_tests[[length(robust_tests) + 1]] <- list(
      data = case$data, mods = I(mods), method = case$method, test = case$test, type = type,
      statistic = num(rb$QM), df = num(rb$QMdf[1]), df2 = num(rb$QMdf[2]), p_value = num(rb$QMp))
  }
}

# ---- multilevel meta-regression: --btt, --newmods, --drop ------------------------------------
multilevel <- fixture("metafor_multilevel.json")
ml_tight <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)
specs <- list(
  list(data = "assink2016", mods = c("year", "deltype"), categorical = "deltype", btt = "deltype",
       drop = "deltype", newmods = list(list(year = -5, deltype = "general"), list(year = 3, deltype = "covert"))),
  list(data = "konstantopoulos2011", mods = "year", categorical = character(), btt = "year", drop = "year",
       newmods = list(list(year = 1980), list(year = 2000))))
design_row <- function(res, values, d) {
  row <- setNames(numeric(ncol(res$X) - 1), colnames(res$X)[-1])
  for (name in names(values)) {
    if (is.numeric(values[[name]])) { row[name] <- values[[name]]; next }
    for (l in sort(unique(unlist(d$mods[[name]])))[-1]) row[paste0(name, l)] <- as.numeric(values[[name]] == l)
  }
  row
}
multilevel_cases <- list()
for (spec in specs) for (rho in c(0, 0.6)) for (method in c("REML", "ML")) for (test in c("z", "t")) {
  d <- multilevel$datasets[[spec$data]]
  dat <- data.frame(yi = unlist(d$yi), vi = unlist(d$vi), cluster = unlist(d$cluster), stringsAsFactors = FALSE)
  for (name in spec$mods) {
    dat[[name]] <- unlist(d$mods[[name]])
    if (name %in% spec$categorical) dat[[name]] <- factor(dat[[name]])
  }
  dat$es_id <- seq_len(nrow(dat))
  V <- vcalc(vi, cluster = cluster, obs = es_id, rho = rho, data = dat)
  fit <- function(mods, method) rma.mv(yi, V, mods = mods, random = ~ 1 | cluster / es_id, data = dat,
                                       method = method, test = test, control = ml_tight)
  form <- as.formula(paste("~", paste(spec$mods, collapse = " + ")))
  res <- fit(form, method)
  btt <- which(sapply(colnames(res$X), function(col) startsWith(col, spec$btt)))
  wald <- anova(res, btt = btt)
  htz <- Wald_test(res, constraints = constrain_zero(btt), vcov = vcovCR(res, cluster = dat$cluster, type = "CR2"),
                   test = "HTZ")
  rows <- t(sapply(spec$newmods, function(values) design_row(res, values, d)))
  if (ncol(res$X) == 2) rows <- t(rows)
  pr <- predict(res, newmods = rows)
  kept <- setdiff(spec$mods, spec$drop)
  reduced_form <- if (length(kept)) as.formula(paste("~", paste(kept, collapse = " + "))) else ~ 1
  lrt <- anova(fit(form, "ML"), fit(reduced_form, "ML"))
  multilevel_cases[[length(multilevel_cases) + 1]] <- list(
    data = spec$data, mods = I(spec$mods), rho = rho, method = method, test = test, terms = colnames(res$X),
    beta = num(res$beta), sigma2 = num(res$sigma2),
    btt = list(names = I(spec$btt), terms = I(colnames(res$X)[btt]), statistic = wald$QM, df = wald$QMdf[1],
               df2 = num(wald$QMdf[2]), p_value = wald$QMp),
    btt_cr2 = list(statistic = htz$Fstat, df = htz$df_num, df2 = htz$df_denom, p_value = htz$p_val),
    predictions = lapply(seq_along(spec$newmods), function(i) list(
      values = spec$newmods[[i]], estimate = pr$pred[i], se = pr$se[i], ci_lower = pr$ci.lb[i],
      ci_upper = pr$ci.ub[i], pi_lower = pr$pi.lb[i], pi_upper = pr$pi.ub[i])),
    lrt = list(dropped = I(spec$drop), statistic = lrt$LRT, df = lrt$parms.f - lrt$parms.r, p_value = lrt$pval,
               ll_full = lrt$fit.stats.f[["ll"]], ll_reduced = lrt$fit.stats.r[["ll"]]))
}

writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")),
                       clubSandwich_version = as.character(packageVersion("clubSandwich")),
                       generated_by = "scripts/metafor_infer_gaps_reference.R",
                       robust_tests = robust_tests, multilevel = multilevel_cases),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_infer_gaps.json"))
cat("wrote tests/fixtures/metafor_infer_gaps.json\n")
