#!/usr/bin/env Rscript
# Reference values for compassmeta's multivariate / longitudinal models (models/multivariate.py).
#
# Run from the project root:  Rscript scripts/metafor_multivariate_reference.R
# Writes tests/fixtures/metafor_multivariate.json.  Needs metafor 5.1-12 in /opt/rlib-current,
# metadat, clubSandwich, jsonlite.  CI does not run this script; it reads the committed JSON.
#
# Model: rma.mv(yi, V, mods, random = ~ inner | outer, struct = S).  Each case records its data
# (yi, vi, cluster, inner, time), the off-diagonal of V as (row, row, cov) pairs (rows 1-based)
# and how V was built (published V, vcalc rho, vcalc phi), then the fit, Wald contrasts
# (anova(X = ...)), clubSandwich CR2 inference and profile-likelihood CIs (confint()).
# Each model is fitted with three tight optimiser settings and the best fit is kept (fit_best).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(clubSandwich); library(jsonlite)})

controls <- list(
  nlminb = list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000),
  bfgs = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000),
  nelder_mead = list(optimizer = "optim", optmethod = "Nelder-Mead", reltol = 1e-15, maxit = 100000))

# Fit with each optimiser setting and keep the highest (restricted) log-likelihood: each of
# them stops short of the optimum on some of these models (by up to 4e-9 in logLik, 6e-5
# relative in tau^2 for Berkey's UN under BFGS).
# A second round restarts each optimiser from the best fit's estimates (tau2.init, rho.init,
# sigma2.init): on the synthetic SCS set (below) the first round stops 1.7e-5 (relative) short in tau^2.
fit_best <- function(...) {
  best <- NULL
  for (round in 1:2) {
    start <- if (is.null(best)) list() else
      c(list(tau2.init = pmax(best$tau2, 1e-8)),
        if (length(best$rho)) list(rho.init = pmin(pmax(best$rho, -0.999999), 0.999999)),
        if (best$withS) list(sigma2.init = pmax(best$sigma2, 1e-8)))
    for (name in names(controls)) {
      res <- tryCatch(rma.mv(..., control = c(controls[[name]], start)), error = function(e) NULL)
      if (!is.null(res) && (is.null(best) || logLik(res) > logLik(best))) {
        best <- res
        best$optimiser_used <- paste(name, "round", round)
      }
    }
  }
  best
}
cases <- list()

pairs_of <- function(V) {
  idx <- which(upper.tri(V) & V != 0, arr.ind = TRUE)
  lapply(seq_len(nrow(idx)), function(r) c(idx[r, 1], idx[r, 2], V[idx[r, 1], idx[r, 2]]))
}

coef_table <- function(res) {
  data.frame(term = rownames(res$beta), estimate = as.numeric(res$beta), se = res$se,
             statistic = res$zval, df = if (is.null(res$ddf) || all(is.na(res$ddf))) NA else res$ddf,
             p_value = res$pval, ci_lower = res$ci.lb, ci_upper = res$ci.ub)
}

profile_table <- function(res) {
  ci <- confint(res, control = list(tol = 1e-8))
  one <- function(x) {
    r <- x$random
    data.frame(parameter = rownames(r), estimate = r[, "estimate"], ci_lower = r[, "ci.lb"],
               ci_upper = r[, "ci.ub"])
  }
  if (!is.null(ci$random)) return(one(ci))
  do.call(rbind, lapply(ci[sapply(ci, is.list)], one))
}

# Per-level predictions (metafor predict(newmods =, tau2.levels =)): for each inner level whose
# rows share one row of the design matrix, that row; and the level's I^2 = (tau^2_a + sum sigma^2)
# / (tau^2_a + sum sigma^2 + v~), v~ = (k - p) / tr(P), P = W - W X (X'W X)^-1 X'W, W = V^-1
# (Higgins & Thompson 2002's typical sampling variance, as on metafor's page "I^2 for multilevel
# and multivariate models"; metafor itself prints no I^2 for an rma.mv).
level_predictions <- function(res, inner_values) {
  X <- model.matrix(res)
  W <- chol2inv(chol(res$V))
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (res$k - res$p) / sum(diag(P))
  levels <- res$g.levels.f[[1]]
  per_level <- length(res$tau2) > 1
  out <- list()
  for (a in seq_along(levels)) {
    rows <- unique(X[as.character(inner_values) == levels[a], , drop = FALSE])
    if (nrow(rows) != 1) next
    x <- rows[1, ]
    if (res$int.only) {
      pr <- predict(res, tau2.levels = a)
    } else {
      newmods <- if (res$int.incl) x[-1] else x
      pr <- predict(res, newmods = matrix(newmods, nrow = 1), tau2.levels = a)
    }
    heterogeneity <- (if (per_level) res$tau2[a] else res$tau2[1]) + sum(res$sigma2)
    out[[length(out) + 1]] <- list(level = levels[a], estimate = pr$pred, se = pr$se, ci_lower = pr$ci.lb,
                                   ci_upper = pr$ci.ub, pi_lower = pr$pi.lb, pi_upper = pr$pi.ub,
                                   i2 = 100 * heterogeneity / (heterogeneity + typical))
  }
  out
}

# nested: the term beside ~ inner | cluster, as metafor writes it ("row", "study/row"): the fit
# is rma.mv(random = list(~ inner | cluster, ~ 1 | nested)).
add_case <- function(name, dat, V, V_from, inner, struct, mods, contrasts = list(), test = "z",
                     methods = c("REML", "ML"), time = NULL, profile = TRUE, cr2 = TRUE, nested = NULL) {
  random <- as.formula(paste("~", inner, "| cluster"))
  if (!is.null(nested)) random <- list(random, as.formula(paste("~ 1 |", nested)))
  for (method in methods) {
    message(name, " ", method)
    res <- fit_best(dat$yi, V, mods = mods, random = random,
                    struct = struct, data = dat, method = method, test = test)
    out <- list(name = name, method = method, struct = struct, test = test, optimiser = res$optimiser_used,
                formula = paste(deparse(mods), collapse = ""),
                yi = dat$yi, vi = diag(V), cluster = as.character(dat$cluster),
                inner = as.character(dat[[inner]]), time = if (is.null(time)) NULL else dat[[time]],
                V_from = V_from, pairs = pairs_of(V),
                coefficients = coef_table(res), tau2 = res$tau2, rho = res$rho,
                G = res$G, log_likelihood = as.numeric(logLik(res)), deviance = deviance(res),
                aic = AIC(res), bic = BIC(res), q = res$QE, q_df = res$k - res$p, q_p = res$QEp,
                qm = res$QM, qm_df = res$QMdf[1], qm_p = res$QMp, k = res$k,
                n_clusters = length(unique(dat$cluster)),
                sigma2 = if (is.null(nested)) list() else I(res$sigma2), nested = nested,
                nested_values = if (is.null(nested)) NULL else
                  lapply(setNames(strsplit(nested, "/")[[1]], strsplit(nested, "/")[[1]]),
                         function(column) as.character(dat[[column]])),
                predictions = level_predictions(res, dat[[inner]]))
    out$contrasts <- lapply(names(contrasts), function(label) {
      a <- anova(res, X = contrasts[[label]])
      list(label = label, estimate = as.numeric(a$Xb), se = as.numeric(a$se),
           statistic = as.numeric(a$zval), p_value = as.numeric(a$pval))
    })
    if (cr2) {
      vc <- vcovCR(res, cluster = dat$cluster, type = "CR2")
      ct <- coef_test(res, vcov = vc, test = "Satterthwaite")
      out$cr2 <- list(se = ct$SE, df = ct$df_Satt, p_value = ct$p_Satt,
                      contrasts = lapply(names(contrasts), function(label) {
                        w <- Wald_test(res, constraints = matrix(contrasts[[label]], nrow = 1),
                                       vcov = vc, test = "HTZ")
                        list(label = label, F = w$Fstat, df2 = w$df_denom, p_value = w$p_val)
                      }))
    }
    # confint() refits the model at every step of its search with the model's optimiser:
    # BFGS there (Nelder-Mead's profile fits stop short and give different bounds).
    if (profile && method == "REML") {
      bfgs <- rma.mv(dat$yi, V, mods = mods, random = random,
                     struct = struct, data = dat, method = method, test = test, control = controls$bfgs)
      out$profile <- profile_table(bfgs)
    }
    cases[[length(cases) + 1]] <<- out
  }
}

# Berkey et al. (1998): two outcomes (PD, AL) per trial, the published within-trial V.
dat <- dat.berkey1998
dat$cluster <- dat$trial
V <- bldiag(lapply(split(dat[, c("v1i", "v2i")], dat$trial), as.matrix))
add_case("berkey1998_UN", dat, V, "published", "outcome", "UN", ~ outcome - 1,
         contrasts = list("PD-AL" = c(-1, 1)))
add_case("berkey1998_UN_intercept", dat, V, "published", "outcome", "UN", ~ outcome,
         methods = "REML", profile = FALSE)
add_case("berkey1998_UN_t", dat, V, "published", "outcome", "UN", ~ outcome - 1, test = "t",
         contrasts = list("PD-AL" = c(-1, 1)), methods = "REML", profile = FALSE, cr2 = FALSE)
add_case("berkey1998_ID_trial", dat, V, "published", "outcome", "ID", ~ outcome - 1, nested = "trial",
         methods = "REML", profile = FALSE, cr2 = FALSE)
add_case("berkey1998_DIAG", dat, V, "published", "outcome", "DIAG", ~ outcome - 1, profile = FALSE)
add_case("berkey1998_CS", dat, V, "published", "outcome", "CS", ~ outcome - 1, profile = FALSE)
add_case("berkey1998_HCS", dat, V, "published", "outcome", "HCS", ~ outcome - 1, profile = FALSE)

# Ishak et al. (2007): up to four timepoints per study, V with autocorrelation phi = 0.97.
long <- reshape(dat.ishak2007, direction = "long", idvar = "study", v.names = c("yi", "vi"),
                varying = list(c(2, 4, 6, 8), c(3, 5, 7, 9)))
long <- long[!is.na(long$yi), ]
long <- long[order(long$study, long$time), ]
long$cluster <- long$study
V <- vcalc(vi, cluster = study, time1 = time, phi = 0.97, data = long)
add_case("ishak2007_AR", long, V, "phi=0.97", "time", "AR", ~ factor(time) - 1, time = "time",
         contrasts = list("4-1" = c(-1, 0, 0, 1)))
add_case("ishak2007_HAR", long, V, "phi=0.97", "time", "HAR", ~ factor(time) - 1, time = "time")
add_case("ishak2007_CAR", long, V, "phi=0.97", "time", "CAR", ~ factor(time) - 1, time = "time",
         methods = "REML", profile = FALSE)
long$row <- seq_len(nrow(long))
add_case("ishak2007_AR_row", long, V, "phi=0.97", "time", "AR", ~ factor(time) - 1, time = "time",
         nested = "row", cr2 = FALSE)
add_case("ishak2007_ID", long, V, "phi=0.97", "time", "ID", ~ factor(time) - 1, time = "time",
         methods = "REML", profile = FALSE)

# Kalaian & Raudenbush (1996): verbal and math SAT coaching effects, sampling correlation 0.66.
dat <- dat.kalaian1996
dat$cluster <- dat$study
V <- vcalc(vi, cluster = study, type = outcome, rho = 0.66, data = dat)
add_case("kalaian1996_UN", dat, V, "rho=0.66", "outcome", "UN", ~ outcome - 1,
         contrasts = list("verbal-math" = c(-1, 1)))

# Assink & Wibbelink (2016): many effects per study; CS over effects (the three-level model)
# and HCS over the type of delinquent behaviour.
dat <- dat.assink2016
dat$cluster <- dat$study
V <- diag(dat$vi)
add_case("assink2016_CS", dat, V, "independent", "esid", "CS", ~ 1)
# Nested terms beside ~ inner | cluster: a row-level effect (~ 1 | row), the trial (~ 1 | trial,
# trial = the outer factor) and both (~ 1 | study/row).
dat$row <- seq_len(nrow(dat))
add_case("assink2016_DIAG_row", dat, V, "independent", "deltype", "DIAG", ~ deltype - 1, nested = "row",
         profile = FALSE, cr2 = FALSE)
add_case("assink2016_ID_study_row", dat, V, "independent", "deltype", "ID", ~ 1, nested = "study/row",
         cr2 = FALSE)
add_case("assink2016_HCS", dat, V, "independent", "deltype", "HCS", ~ deltype - 1,
         contrasts = list("overt-covert" = c(-1, 0, 1)))

# A crafted bivariate SCS-component set: SYNTHETIC, a numerical check of the UN and CS fits, not
# evidence (it never enters studies/).  Trials each give the compassionate and the uncompassionate
# SCS component (standardised mean differences); the two components' sampling errors within a trial
# are correlated rho = 0.6.  Source of rho: no correlation between the compassionate and the
# uncompassionate component scores printed in a source could be found in the stored material
# searched (Neff et al. 2018, Self and Identity, "The forest and the trees"; Lopez et al. 2015,
# PLOS ONE 10:e0132940; Neff 2016, Mindfulness 7:264; only their openings are stored), so rho is
# the analysis plan's within-trial correlation (studies/analysis_plan.toml, model.rho = 0.6).
set.seed(20231)
bivariate_normal <- function(n, mu, S) sweep(matrix(rnorm(2 * n), n) %*% chol(S), 2, mu, "+")
n_trials <- 14
n <- round(runif(n_trials, 20, 120))
true <- bivariate_normal(n_trials, c(0.45, 0.25), matrix(c(0.04, 0.018, 0.018, 0.0225), 2))
vi <- as.vector(rbind(2 / n + 0.45^2 / (4 * n), 2 / n + 0.25^2 / (4 * n)))
rho_scs <- 0.6
errors <- bivariate_normal(n_trials, c(0, 0), matrix(c(1, rho_scs, rho_scs, 1), 2))
dat <- data.frame(trial = rep(sprintf("synthetic-%02d", seq_len(n_trials)), each = 2),
                  component = rep(c("compassionate", "uncompassionate"), n_trials), vi = vi)
dat$yi <- round(as.vector(t(true)) + sqrt(dat$vi) * as.vector(t(errors)), 4)
dat$vi <- round(dat$vi, 6)
dat$cluster <- dat$trial
V <- vcalc(vi, cluster = trial, type = component, rho = rho_scs, data = dat)
for (struct in c("UN", "CS")) {
  add_case(paste0("synthetic_scs_", struct), dat, V, "rho=0.6", "component", struct, ~ component - 1,
           contrasts = list("compassionate-uncompassionate" = c(1, -1)))
}
rho_source <- paste("SYNTHETIC data (set.seed(20231) in this script): a numerical check, not evidence.",
                    "rho = 0.6 is the analysis plan's within-trial correlation (studies/analysis_plan.toml",
                    "model.rho): no printed correlation between the compassionate and uncompassionate SCS",
                    "component scores was found in the stored material searched (Neff et al. 2018",
                    "Self and Identity; Lopez et al. 2015 PLOS ONE 10:e0132940; Neff 2016 Mindfulness 7:264).")
for (i in seq_along(cases)) if (startsWith(cases[[i]]$name, "synthetic_scs_")) {
  cases[[i]]$synthetic <- TRUE
  cases[[i]]$rho_source <- rho_source
}

versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 clubSandwich = as.character(packageVersion("clubSandwich")),
                 metadat = as.character(packageVersion("metadat")))
write_json(list(versions = versions, controls = controls, cases = cases),
           "tests/fixtures/metafor_multivariate.json", digits = NA, auto_unbox = TRUE,
           dataframe = "rows", null = "null", na = "null", pretty = FALSE)
cat("wrote", length(cases), "cases\n")
