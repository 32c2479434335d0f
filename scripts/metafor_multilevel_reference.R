#!/usr/bin/env Rscript
# Reference values for compassmeta's multilevel (three-level / CHE) models and CR2 inference.
#
# Run from the project root:  Rscript scripts/metafor_multilevel_reference.R
# Writes tests/fixtures/metafor_multilevel.json.  Needs metafor >= 5.1 in /opt/rlib-current
# (see helpers' notes), metadat, clubSandwich (0.5), jsonlite; the JSON records the versions.
# CI does not run this script; it reads the committed JSON.
#
# Model: rma.mv(yi, V, mods, random = ~ 1 | cluster/es_id) with V = vcalc(vi, cluster,
# obs = es_id, rho = rho), the CHE working model (rho = 0: the three-level model).
# With mods = sei (the standard error) the model is Egger's regression test for dependent effects.
# Robust inference: clubSandwich vcovCR(type = "CR2"), coef_test(test = "Satterthwaite"),
# conf_int(), Wald_test(test = "HTZ") and metafor robust(clubSandwich = TRUE) + predict().
# optim(BFGS) runs with a tight tolerance so that the fixture holds the converged optimum
# (metafor's default nlminb stops about 3e-7 (relative) short of it on dat.assink2016).
# I^2 per level follows metafor's FAQ "I^2 for multilevel and multivariate models":
# sigma^2_l / (sum sigma^2 + (k - p) / tr(P)) with P built from W = diag(1 / vi).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(clubSandwich); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "5.1")

tight <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000)
datasets <- list()
cases <- list()

add_dataset <- function(name, source, yi, vi, cluster, mods = list()) {
  datasets[[name]] <<- list(name = name, source = source, yi = as.numeric(yi),
                            vi = as.numeric(vi), cluster = as.character(cluster), mods = mods)
}

# The design of a case: mods is a character vector of moderator names; categorical ones are
# listed again in `categorical` and enter as factor() (treatment contrasts, R level order).
formula_for <- function(mods, categorical) {
  if (length(mods) == 0) return(NULL)
  terms <- ifelse(mods %in% categorical, paste0("factor(", mods, ")"), mods)
  as.formula(paste("~", paste(terms, collapse = " + ")))
}

typical_i2 <- function(fit, vi) {
  W <- diag(1 / vi)
  X <- model.matrix(fit)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (fit$k - fit$p) / sum(diag(P))
  100 * fit$sigma2 / (sum(fit$sigma2) + typical)
}

run_case <- function(dataset, rho, method, mods = character(), categorical = character()) {
  d <- datasets[[dataset]]
  dat <- data.frame(yi = d$yi, vi = d$vi, cluster = d$cluster, stringsAsFactors = FALSE)
  for (m in names(d$mods)) dat[[m]] <- d$mods[[m]]
  dat$es_id <- seq_len(nrow(dat))
  V <- vcalc(vi, cluster = cluster, obs = es_id, rho = rho, data = dat)
  form <- formula_for(mods, categorical)
  # Tight tolerances first; where nlminb cannot meet them (sigma^2 drifting to the zero
  # boundary on metafor's log scale) the default nlminb is used and the case says so.
  fit_with <- function(test, control) {
    if (is.null(form)) {
      rma.mv(yi, V, random = ~ 1 | cluster / es_id, data = dat, method = method, test = test,
             control = control)
    } else {
      rma.mv(yi, V, mods = form, random = ~ 1 | cluster / es_id, data = dat, method = method,
             test = test, control = control)
    }
  }
  tight_control <- TRUE
  fit_for <- function(test) {
    tryCatch(fit_with(test, tight), error = function(e) {
      tight_control <<- FALSE
      fit_with(test, list())
    })
  }
  fz <- fit_for("z")
  ft <- fit_for("t")
  p <- fz$p
  newx <- if (p > 1) matrix(0, nrow = 1, ncol = p - 1) else NULL
  pz <- predict(fz, newmods = newx)
  pt <- predict(ft, newmods = newx)
  vc <- vcovCR(fz, cluster = dat$cluster, type = "CR2")
  ct <- coef_test(fz, vcov = vc, test = "Satterthwaite")
  ci <- conf_int(fz, vcov = vc, test = "Satterthwaite")
  rob <- robust(fz, cluster = dat$cluster, clubSandwich = TRUE)
  pr <- predict(rob, newmods = newx)
  out <- list(
    dataset = dataset, tight_control = tight_control, rho = rho, method = method, mods = mods, categorical = categorical,
    k = fz$k, n_clusters = fz$s.nlevels[1], terms = rownames(fz$b),
    beta = as.numeric(fz$b), se = as.numeric(fz$se), pval_z = as.numeric(fz$pval),
    ci_lb_z = as.numeric(fz$ci.lb), ci_ub_z = as.numeric(fz$ci.ub),
    pval_t = as.numeric(ft$pval), ci_lb_t = as.numeric(ft$ci.lb), ci_ub_t = as.numeric(ft$ci.ub),
    sigma2 = as.numeric(fz$sigma2), i2 = as.numeric(typical_i2(fz, dat$vi)),
    QE = fz$QE, QEdf = fz$k - fz$p, QEp = fz$QEp,
    logLik = as.numeric(logLik(fz)),
    pi_lb_z = pz$pi.lb, pi_ub_z = pz$pi.ub, pi_lb_t = pt$pi.lb, pi_ub_t = pt$pi.ub,
    cr2_vcov = unname(as.matrix(vc)), cr2_se = as.numeric(ct$SE), cr2_df = as.numeric(ct$df_Satt),
    cr2_p = as.numeric(ct$p_Satt), cr2_ci_lb = as.numeric(ci$CI_L), cr2_ci_ub = as.numeric(ci$CI_U),
    cr2_pi_lb = pr$pi.lb, cr2_pi_ub = pr$pi.ub)
  if (p > 1) {
    out$QM_z <- fz$QM; out$QMp_z <- fz$QMp
    out$QM_t <- ft$QM; out$QMdf_t <- as.numeric(ft$QMdf); out$QMp_t <- ft$QMp
    wt <- Wald_test(fz, constraints = constrain_zero(2:p), vcov = vc, test = "HTZ")
    out$htz_F <- wt$Fstat; out$htz_df_num <- wt$df_num; out$htz_df_denom <- wt$df_denom
    out$htz_p <- wt$p_val
  }
  cases[[length(cases) + 1]] <<- out
}

add_dataset("assink2016", "metadat dat.assink2016 (Assink et al. 2016), cluster = study",
            dat.assink2016$yi, dat.assink2016$vi, dat.assink2016$study,
            list(year = dat.assink2016$year, deltype = dat.assink2016$deltype, sei = sqrt(dat.assink2016$vi)))
add_dataset("konstantopoulos2011", "metadat dat.konstantopoulos2011, cluster = district",
            dat.konstantopoulos2011$yi, dat.konstantopoulos2011$vi,
            dat.konstantopoulos2011$district,
            list(year = as.numeric(dat.konstantopoulos2011$year), sei = sqrt(dat.konstantopoulos2011$vi)))
# Subgroups of dat.assink2016 by deltype, as compassmeta subgroup --cluster fits them.
for (type in unique(dat.assink2016$deltype)) {
  part <- dat.assink2016[dat.assink2016$deltype == type, ]
  add_dataset(paste0("assink2016_", type), paste0("metadat dat.assink2016, deltype == ", type),
              part$yi, part$vi, part$study)
}
data(SATcoaching, package = "clubSandwich")
sat <- SATcoaching[!is.na(SATcoaching$hrs), ]
add_dataset("satcoaching", "clubSandwich SATcoaching (rows with hrs), cluster = study",
            sat$d, sat$V, sat$study,
            list(hrs = sat$hrs, study_type = sat$study_type))

# Constructed data (not studies): one cluster of 12 effects among 14 singletons, and data
# whose between-cluster variance sits at the zero boundary.
set.seed(20261124)
n_sizes <- c(12, rep(1, 14))
cl <- rep(seq_along(n_sizes), n_sizes)
vi_big <- round(runif(length(cl), 0.01, 0.2), 4)
u <- rnorm(length(n_sizes), 0, 0.25)[cl]
yi_big <- round(0.3 + u + rnorm(length(cl), 0, 0.15) + rnorm(length(cl), 0, sqrt(vi_big)), 4)
add_dataset("big_among_singletons", "constructed (set.seed 20261124): one cluster of 12 among 14 singletons",
            yi_big, vi_big, paste0("c", cl), list(x = round(runif(length(cl)), 3)))
# Boundary: every cluster holds two effects that are identical except for sampling noise that
# is small relative to vi, and the cluster means agree; REML puts sigma^2 at (or near) zero.
cl0 <- rep(1:10, each = 3)
vi0 <- rep(c(0.04, 0.05, 0.06), 10)
yi0 <- rep(c(0.21, 0.19, 0.20), 10) + rep(c(0.01, -0.01), 15)
add_dataset("boundary", "constructed: sigma^2 at the zero boundary", yi0, vi0, paste0("b", cl0),
            list(x = rep(c(0, 1, 2), 10)))

for (rho in c(0, 0.6)) {
  for (method in c("REML", "ML")) {
    run_case("assink2016", rho, method)
    run_case("assink2016", rho, method, c("year", "deltype"), "deltype")
    run_case("konstantopoulos2011", rho, method)
    run_case("konstantopoulos2011", rho, method, "year")
    # Egger's regression test for dependent effects: the standard error as moderator
    # (metafor's regtest() does not take rma.mv models; Rodgers & Pustejovsky 2021).
    run_case("assink2016", rho, method, "sei")
    run_case("konstantopoulos2011", rho, method, "sei")
    run_case("satcoaching", rho, method)
    run_case("satcoaching", rho, method, c("hrs", "study_type"), "study_type")
    run_case("big_among_singletons", rho, method)
    run_case("big_among_singletons", rho, method, "x")
    run_case("boundary", rho, method)
  }
}
run_case("assink2016", 0.8, "REML", "deltype", "deltype")
# (deltype "covert" comes from one study: metafor fixes its sigma^2 between at 0, and CR2
# needs two clusters, so only the other two subgroups have robust references.)
for (type in c("general", "overt")) run_case(paste0("assink2016_", type), 0.8, "REML")

covert <- dat.assink2016[dat.assink2016$deltype == "covert", ]
covert$es_id <- seq_len(nrow(covert))
fc <- rma.mv(yi, vcalc(vi, cluster = study, obs = es_id, rho = 0.8, data = covert),
             random = ~ 1 | study / es_id, data = covert, control = tight)
single_cluster <- list(dataset = "assink2016_covert", rho = 0.8, method = "REML",
                       beta = as.numeric(fc$b), se = as.numeric(fc$se), sigma2 = fc$sigma2)

# compassmeta bias --cluster: the analyses for independent effects run on one composite per
# cluster, the unweighted mean of its effects with correlation r (Borenstein et al. 2009, ch. 24),
# which is metafor's aggregate(..., struct = "CS", weighted = FALSE).
aggregated_bias <- lapply(c(0.5, 0.6), function(r) {
  agg <- aggregate(escalc(yi = yi, vi = vi, data = dat.assink2016), cluster = study, rho = r,
                   weighted = FALSE)
  fit <- rma(yi, vi, data = agg, method = "REML", control = list(threshold = 1e-12, maxiter = 10000))
  egger <- regtest(fit, model = "lm")
  trim <- trimfill(fit)
  list(dataset = "assink2016", r = r, yi = as.numeric(agg$yi), vi = as.numeric(agg$vi),
       egger_lm_z = egger$zval, egger_lm_p = egger$pval, ranktest_tau = ranktest(fit)$tau,
       trimfill_k0 = trim$k0, trimfill_beta = as.numeric(trim$beta))
})

# compassmeta sensitivity --cluster: the multilevel model refitted without each cluster in turn
# (metafor's leave1out() does not take rma.mv models), REML, Wald z and CR2; with metafor's
# cooks.distance() and dfbetas() of the full model by cluster.
leave_one_cluster_out <- list()
for (name in c("assink2016", "konstantopoulos2011")) for (rho in c(0, 0.6)) {
  d <- datasets[[name]]
  dat <- data.frame(yi = d$yi, vi = d$vi, cluster = d$cluster, stringsAsFactors = FALSE)
  rows <- lapply(unique(dat$cluster), function(omitted) {
    part <- dat[dat$cluster != omitted, ]
    part$es_id <- seq_len(nrow(part))
    V <- vcalc(vi, cluster = cluster, obs = es_id, rho = rho, data = part)
    fit <- tryCatch(rma.mv(yi, V, random = ~ 1 | cluster / es_id, data = part, method = "REML", control = tight),
                    error = function(e) rma.mv(yi, V, random = ~ 1 | cluster / es_id, data = part, method = "REML"))
    rob <- robust(fit, cluster = part$cluster, clubSandwich = TRUE)
    list(omitted = omitted, k = fit$k, estimate = as.numeric(fit$beta), se = fit$se, ci_lower = fit$ci.lb,
         ci_upper = fit$ci.ub, sigma2 = fit$sigma2, cr2_se = rob$se, cr2_df = as.numeric(rob$ddf),
         cr2_ci_lower = rob$ci.lb, cr2_ci_upper = rob$ci.ub)
  })
  dat$es_id <- seq_len(nrow(dat))
  full <- rma.mv(yi, vcalc(vi, cluster = cluster, obs = es_id, rho = rho, data = dat), random = ~ 1 | cluster / es_id,
                 data = dat, method = "REML", control = tight)
  cook <- cooks.distance(full, cluster = dat$cluster)   # in metafor's order of the cluster labels
  dfbs <- dfbetas(full, cluster = dat$cluster)
  leave_one_cluster_out[[length(leave_one_cluster_out) + 1]] <- list(
    dataset = name, rho = rho, rows = rows, influence_clusters = names(cook), cook_d = as.numeric(cook),
    dfbetas = as.numeric(dfbs[names(cook), 1]))
}

# Likelihood-ratio tests of the variance components (Assink & Wibbelink 2016, Quant Meth Psych
# 12:154): the model with sigma^2 between (or within) fixed at 0 against the full model, anova().
variance_tests <- list()
for (name in c("assink2016", "konstantopoulos2011", "satcoaching")) for (rho in c(0, 0.6))
  for (method in c("REML", "ML")) {
    d <- datasets[[name]]
    dat <- data.frame(yi = d$yi, vi = d$vi, cluster = d$cluster, stringsAsFactors = FALSE)
    dat$es_id <- seq_len(nrow(dat))
    V <- vcalc(vi, cluster = cluster, obs = es_id, rho = rho, data = dat)
    fit <- function(sigma2) rma.mv(yi, V, random = ~ 1 | cluster / es_id, data = dat, method = method,
                                   sigma2 = sigma2, control = tight)
    # The optimizer works on log(sigma^2) and cannot reach 0 exactly: where the maximum lies on the
    # zero boundary (satcoaching, rho 0, ML: both sigma^2 at 0) the free fit stops 1e-8 short of
    # it in log-likelihood.  Each model is therefore also fitted with its free components held at
    # 0 (every subset), and the fit of the highest log-likelihood is its optimum.
    best <- function(sigma2) {
      free <- which(is.na(sigma2))
      subsets <- unlist(lapply(0:length(free), function(m) combn(free, m, simplify = FALSE)),
                        recursive = FALSE)
      fits <- lapply(subsets, function(zero) { s <- sigma2; s[zero] <- 0; fit(s) })
      fits[[which.max(sapply(fits, logLik))]]
    }
    # metafor's anova(full, reduced): LRT = deviance difference (floored at 0), chi-square on the
    # one parameter fixed at 0
    lrt <- function(full, reduced) {
      statistic <- max(0, 2 * (as.numeric(logLik(full)) - as.numeric(logLik(reduced))))
      list(LRT = statistic, pval = pchisq(statistic, df = 1, lower.tail = FALSE))
    }
    full <- best(c(NA, NA))
    no_between <- best(c(0, NA))
    no_within <- best(c(NA, 0))
    between <- lrt(full, no_between)
    within <- lrt(full, no_within)
    variance_tests[[length(variance_tests) + 1]] <- list(
      dataset = name, rho = rho, method = method, logLik = as.numeric(logLik(full)),
      lrt_between = between$LRT, p_between = between$pval, sigma2_without_between = no_between$sigma2,
      lrt_within = within$LRT, p_within = within$pval, sigma2_without_within = no_within$sigma2)
  }

dir.create(file.path("tests", "fixtures"), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(list(metafor = as.character(packageVersion("metafor")),
                       clubSandwich = as.character(packageVersion("clubSandwich")),
                       datasets = datasets, cases = cases,
                       single_cluster = single_cluster, aggregated_bias = aggregated_bias,
                       leave_one_cluster_out = leave_one_cluster_out, variance_tests = variance_tests),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor"),
           file.path("tests", "fixtures", "metafor_multilevel.json"))
