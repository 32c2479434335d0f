#!/usr/bin/env Rscript
# Reference values of metafor's inference toolbox at its CURRENT version (5.1-12) for issue 25:
# fsn() of every type, fitstats(), anova() (likelihood-ratio and Wald tests), predict(newmods=, prob=),
# confint() (Q-profile and profile likelihood, with I^2 and H^2), blup(), ranef() of the three-level
# model, influence() of meta-regressions, robust(clubSandwich = TRUE) with CR0, CR1 and CR2, hc().
#
# Run from the project root:  Rscript scripts/metafor_inference_reference.R
# Needs metafor >= 5.1 in /opt/rlib-current (see helpers' notes), clubSandwich, metadat, jsonlite.
# Writes tests/fixtures/metafor_inference.json with the package versions.  CI reads the JSON.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite); library(clubSandwich)})
stopifnot(packageVersion("metafor") >= "5.1")

tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)
ci_control <- list(tol = 1e-13, tau2.max = 1e7)
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)

datasets <- list()
add_dataset <- function(name, source, yi, vi, mods = list()) {
  datasets[[name]] <<- list(name = name, source = source, yi = as.numeric(yi), vi = as.numeric(vi),
                            mods = mods)
}
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add_dataset("bcg", "metadat dat.bcg, log risk ratio", bcg$yi, bcg$vi,
            list(ablat = bcg$ablat, year = bcg$year, alloc = as.character(bcg$alloc)))
add_dataset("hackshaw1998", "metadat dat.hackshaw1998, log odds ratio",
            dat.hackshaw1998$yi, dat.hackshaw1998$vi)
# made-up: strong, precise effects whose fail-safe numbers lie beyond uniroot()'s first interval (0, 50 k)
add_dataset("edge_strong_effects", "made-up: 40 effects from 0.8 to 1.2 with variance 0.005",
            seq(0.8, 1.2, length.out = 40), rep(0.005, 40))
tw <- read.csv(file.path("studies", "thirdwave.csv"))
add_dataset("thirdwave", "studies/thirdwave.csv (dmetar ThirdWave), g and se^2", tw$g, tw$se^2,
            list(risk_of_bias = tw$risk_of_bias, intervention = tw$intervention,
                 intervention_duration = tw$intervention_duration))

# ---- fail-safe N -------------------------------------------------------------------------------
fsn_case <- function(d) {
  target <- round(mean(d$yi) / 4, 2)     # Orwin with a given target: weighting changes the number
  r <- fsn(d$yi, d$vi, type = "Rosenthal")
  f <- fsn(d$yi, d$vi, type = "Rosenthal", pool = "fisher")
  ow <- fsn(d$yi, d$vi, type = "Orwin")
  ou <- fsn(d$yi, type = "Orwin")
  rb <- fsn(d$yi, d$vi, type = "Rosenberg")
  g <- fsn(d$yi, d$vi, type = "General")
  list(rosenthal = r$fsnum, rosenthal_p = r$pval, fisher = f$fsnum, fisher_p = f$pval,
       orwin = ou$fsnum, orwin_target = ou$target, orwin_weighted = ow$fsnum,
       orwin_weighted_target = ow$target, rosenberg = rb$fsnum, rosenberg_p = rb$pval,
       general = g$fsnum, general_p = g$pval, general_estimate = g$est, general_tau2 = g$tau2,
       target = target, orwin_at_target = fsn(d$yi, type = "Orwin", target = target)$fsnum,
       orwin_weighted_at_target = fsn(d$yi, d$vi, type = "Orwin", target = target)$fsnum)
}

fitstats_of <- function(res) {
  f <- fitstats(res)
  list(log_likelihood = f[1, 1], deviance = f[2, 1], aic = f[3, 1], bic = f[4, 1], aicc = f[5, 1])
}

heterogeneity_ci <- function(res, type) {
  ci <- if (type == "PL") confint(res, type = "PL", control = ci_control) else confint(res, control = ci_control)
  r <- ci$random
  list(tau2 = num(r["tau^2", 2:3]), i2 = num(r["I^2(%)", 2:3]), h2 = num(r["H^2", 2:3]))
}

robust_case <- function(res) {
  out <- list()
  for (type in c("CR0", "CR1", "CR2")) {
    rb <- robust(res, cluster = seq_len(res$k), clubSandwich = TRUE, vcov = type)
    out[[type]] <- list(estimate = num(rb$beta), se = num(rb$se), df = num(rb$ddf), p_value = num(rb$pval),
                        ci_lower = num(rb$ci.lb), ci_upper = num(rb$ci.ub))
  }
  out
}

# ---- pooled fits -------------------------------------------------------------------------------
pool_cases <- list()
for (d in datasets[c("bcg", "hackshaw1998", "thirdwave")]) for (method in c("REML", "ML", "DL", "FE"))
  for (test in c("z", "knha")) {
  res <- rma(d$yi, d$vi, method = method, test = test, control = tight)
  above <- round(median(d$yi), 2)
  pr <- predict(res, prob = paste0(">", above))
  bl <- blup(res)
  out <- list(data = d$name, method = method, test = test, fitstats = fitstats_of(res),
              tau2 = res$tau2, q_profile = if (method != "FE") heterogeneity_ci(res, "QP"),
              prob_above = list(above = above, prob = num(pr$prob)),
              blups = list(estimate = num(bl$pred), se = num(bl$se), pi_lower = num(bl$pi.lb),
                           pi_upper = num(bl$pi.ub)),
              robust = robust_case(res))
  if (method %in% c("REML", "ML")) out$profile_likelihood <- heterogeneity_ci(res, "PL")
  if (method == "REML" && test == "z") {
    h <- hc(res, control = list(tol = 1e-13))
    out$hc <- list(estimate = h$beta, se = h$se, ci_lower = h$ci.lb, ci_upper = h$ci.ub, tau2 = h$tau2)
  }
  pool_cases[[length(pool_cases) + 1]] <- out
}

# ---- meta-regressions --------------------------------------------------------------------------
# Marginal means of a factor: other numeric moderators at their mean, other factors' dummies at
# 1 / (number of levels) (emmeans' equal weighting), as rows for predict(newmods=) and anova(X=).
design_row <- function(res, factor_name, level, mods) {
  cols <- colnames(res$X)[-1]
  row <- setNames(numeric(length(cols)), cols)
  for (name in names(mods)) {
    values <- mods[[name]]
    if (is.numeric(values)) {
      row[name] <- if (name == factor_name) stop("numeric factor") else mean(values)
    } else {
      levs <- sort(unique(values))
      for (l in levs[-1]) {
        col <- paste0(name, l)
        row[col] <- if (name == factor_name) as.numeric(l == level) else 1 / length(levs)
      }
    }
  }
  row
}

metareg_specs <- list(
  list(data = "bcg", mods = c("ablat", "alloc"), drop = "alloc", btt = c("alloc"),
       newmods = list(list(ablat = 30, alloc = "random"), list(ablat = 50, alloc = "systematic")),
       factor = "alloc"),
  list(data = "bcg", mods = c("ablat", "year"), drop = "year", btt = c("ablat", "year"),
       newmods = list(list(ablat = 10, year = 1960), list(ablat = 55, year = 1975)), factor = NULL),
  list(data = "thirdwave", mods = c("intervention"), drop = "intervention", btt = c("intervention"),
       newmods = list(list(intervention = "PCI")), factor = "intervention"),
  list(data = "thirdwave", mods = c("risk_of_bias", "intervention_duration"), drop = "risk_of_bias",
       btt = c("intervention_duration"), newmods = list(list(risk_of_bias = "low", intervention_duration = "short")),
       factor = "risk_of_bias"))

mods_frame <- function(d, names) {
  frame <- as.data.frame(d$mods[names], stringsAsFactors = FALSE)
  for (name in names) if (!is.numeric(frame[[name]])) frame[[name]] <- factor(frame[[name]])
  frame
}

terms_of <- function(res, names, d) {
  cols <- colnames(res$X)
  which(sapply(cols, function(col) any(sapply(names, function(n) col == n || (!is.numeric(d$mods[[n]]) &&
    startsWith(col, n))))))
}

metareg_cases <- list()
for (spec in metareg_specs) for (method in c("REML", "ML")) for (test in c("z", "knha")) {
  d <- datasets[[spec$data]]
  frame <- mods_frame(d, spec$mods)
  form <- as.formula(paste("~", paste(spec$mods, collapse = " + ")))
  res <- rma(d$yi, d$vi, mods = form, data = frame, method = method, test = test, control = tight)
  full_ml <- rma(d$yi, d$vi, mods = form, data = frame, method = "ML", test = test, control = tight)
  kept <- setdiff(spec$mods, spec$drop)
  reduced_form <- if (length(kept)) as.formula(paste("~", paste(kept, collapse = " + "))) else ~ 1
  reduced_ml <- rma(d$yi, d$vi, mods = reduced_form, data = frame, method = "ML", test = test, control = tight)
  lrt <- anova(full_ml, reduced_ml)
  btt <- terms_of(res, spec$btt, d)
  wald <- anova(res, btt = btt)
  predictions <- lapply(spec$newmods, function(values) {
    row <- design_row(res, "", NA, lapply(values, function(v) if (is.numeric(v)) v else v))
    for (name in names(values)) if (!is.numeric(values[[name]])) {
      levs <- sort(unique(d$mods[[name]]))
      for (l in levs[-1]) row[paste0(name, l)] <- as.numeric(values[[name]] == l)
    } else row[name] <- values[[name]]
    p <- predict(res, newmods = unname(row))
    list(values = values, estimate = p$pred, se = p$se, ci_lower = p$ci.lb, ci_upper = p$ci.ub,
         pi_lower = p$pi.lb, pi_upper = p$pi.ub)
  })
  out <- list(data = d$name, mods = I(spec$mods), drop = spec$drop, btt_names = I(spec$btt), method = method, test = test, fitstats = fitstats_of(res),
              coefficients = num(res$beta), terms = colnames(res$X),
              lrt = list(dropped = spec$drop, statistic = lrt$LRT, df = lrt$parms.f - lrt$parms.r,
                         p_value = lrt$pval, ll_full = lrt$fit.stats.f[["ll"]], ll_reduced = lrt$fit.stats.r[["ll"]]),
              btt = list(terms = I(colnames(res$X)[btt]), statistic = wald$QM, df = wald$QMdf[1],
                         df2 = num(wald$QMdf[2]), p_value = wald$QMp),
              predictions = predictions)
  if (!is.null(spec$factor)) {
    levs <- sort(unique(d$mods[[spec$factor]]))
    rows <- t(sapply(levs, function(l) c(1, design_row(res, spec$factor, l, d$mods[spec$mods]))))
    mm <- predict(res, newmods = rows[, -1, drop = FALSE])
    pairs <- combn(length(levs), 2)
    contrast <- t(apply(pairs, 2, function(ij) rows[ij[1], ] - rows[ij[2], ]))
    ct <- anova(res, X = contrast)
    out$marginal_means <- list(moderator = spec$factor, levels = levs, estimate = num(mm$pred), se = num(mm$se),
                               ci_lower = num(mm$ci.lb), ci_upper = num(mm$ci.ub))
    out$contrasts <- list(label = I(apply(pairs, 2, function(ij) paste(levs[ij[1]], "-", levs[ij[2]]))),
                          estimate = num(ct$Xb), se = num(ct$se), statistic = num(ct$zval),
                          p_value = num(ct$pval), p_holm = p.adjust(ct$pval, method = "holm"))
  }
  if (method == "REML") {
    inf <- influence(res)
    rs <- rstandard(res)
    out$influence <- list(rstudent = num(inf$inf$rstudent), rstandard = num(rs$z), dffits = num(inf$inf$dffits),
                          cook_d = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r),
                          tau2_del = num(inf$inf$tau2.del), qe_del = num(inf$inf$QE.del),
                          hat = num(inf$inf$hat), weight = num(inf$inf$weight),
                          dfbetas = unname(lapply(unclass(inf$dfbs)[seq_len(res$p)], num)), influential = as.logical(inf$is.infl))
    out$robust <- robust_case(res)
  }
  metareg_cases[[length(metareg_cases) + 1]] <- out
}

# ---- three-level BLUPs (Konstantopoulos 2011: schools within districts) -----------------------
# metafor has no blup() for rma.mv: the BLUP of each true effect is fitted() + the ranef() of its
# district and school; its prediction-error variance is the mixed-model one (Henderson 1975),
# Var(theta_hat - theta) = G - G W G + A X M X' A' with A = I - G W, at the estimated sigma^2
# (for one level it is blup()'s l v + (1 - l)^2 x vb x').
kd <- dat.konstantopoulos2011
ml <- rma.mv(yi, vi, random = ~ 1 | district/school, data = kd, control = list(rel.tol = 1e-12))
re <- ranef(ml)
dist_u <- re$district[as.character(kd$district), "intrcpt"]
school_u <- re$`district/school`[paste(kd$district, kd$school, sep = "/"), "intrcpt"]
Z <- model.matrix(~ 0 + factor(district), kd)
G <- ml$sigma2[1] * Z %*% t(Z) + ml$sigma2[2] * diag(nrow(kd))
V <- G + diag(kd$vi)
W <- solve(V)
X <- ml$X
M <- solve(t(X) %*% W %*% X)
A <- diag(nrow(kd)) - G %*% W                 # theta_hat = G W y + A X beta_hat
msep <- G - G %*% W %*% G + A %*% X %*% M %*% t(X) %*% t(A)
three_level <- list(data = "konstantopoulos2011", yi = num(kd$yi), vi = num(kd$vi),
                    cluster = as.character(kd$district), sigma2 = num(ml$sigma2),
                    estimate = num(fitted(ml) + dist_u + school_u), se = num(sqrt(diag(msep))),
                    ranef_district_se = num(re$district[as.character(kd$district), "se"]),
                    prob_above = lapply(c("z", "t"), function(test) {
                      fit <- rma.mv(yi, vi, random = ~ 1 | district/school, data = kd, test = test,
                                    control = list(rel.tol = 1e-12))
                      list(test = test, above = 0.1, prob = num(predict(fit, prob = ">0.1")$prob))
                    }))

output <- list(metafor_version = as.character(packageVersion("metafor")),
               clubSandwich_version = as.character(packageVersion("clubSandwich")),
               generated_by = "scripts/metafor_inference_reference.R",
               datasets = unname(lapply(datasets, function(d) d[c("name", "source", "yi", "vi", "mods")])),
               fsn = lapply(datasets, fsn_case), pool = pool_cases, metareg = metareg_cases,
               three_level_blups = three_level)
writeLines(toJSON(output, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_inference.json"))
cat("wrote tests/fixtures/metafor_inference.json\n")
