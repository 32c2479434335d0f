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
fit_best <- function(...) {
  best <- NULL
  for (name in names(controls)) {
    res <- tryCatch(rma.mv(..., control = controls[[name]]), error = function(e) NULL)
    if (!is.null(res) && (is.null(best) || logLik(res) > logLik(best))) {
      best <- res
      best$optimiser_used <- name
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

add_case <- function(name, dat, V, V_from, inner, struct, mods, contrasts = list(), test = "z",
                     methods = c("REML", "ML"), time = NULL, profile = TRUE, cr2 = TRUE) {
  for (method in methods) {
    message(name, " ", method)
    res <- fit_best(dat$yi, V, mods = mods, random = as.formula(paste("~", inner, "| cluster")),
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
                n_clusters = length(unique(dat$cluster)))
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
      bfgs <- rma.mv(dat$yi, V, mods = mods, random = as.formula(paste("~", inner, "| cluster")),
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
add_case("assink2016_HCS", dat, V, "independent", "deltype", "HCS", ~ deltype - 1,
         contrasts = list("overt-covert" = c(-1, 0, 1)))

versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 clubSandwich = as.character(packageVersion("clubSandwich")),
                 metadat = as.character(packageVersion("metadat")))
write_json(list(versions = versions, controls = controls, cases = cases),
           "tests/fixtures/metafor_multivariate.json", digits = NA, auto_unbox = TRUE,
           dataframe = "rows", null = "null", na = "null", pretty = FALSE)
cat("wrote", length(cases), "cases\n")
