#!/usr/bin/env Rscript
# Reference values from metafor for compassmeta's alignment tests.
#
# Run from the project root:  Rscript scripts/metafor_reference.R
# Writes tests/fixtures/metafor_core.json.  Needs R with metafor, metadat and jsonlite
# (Debian: r-cran-metafor r-cran-metadat r-cran-jsonlite).  CI does not run this script;
# it reads the committed JSON.
#
# Iterative estimators and root searches run with tight tolerances (threshold 1e-12,
# uniroot tol 1e-13) so that the fixtures hold the converged values, not metafor's
# default stopping points (threshold 1e-5).  confint() searches tau^2 up to 1e7 instead of
# its default max(100, 10 tau^2), where it would report the cap (">100") rather than the root.
.libPaths(c("/opt/rlib-current", .libPaths()))  # metafor 5.1-12, the current version
suppressMessages({library(metafor); library(jsonlite)})

tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)
methods <- c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
tests <- c("z", "knha")

thirdwave_path <- file.path("..", "shared", "data", "dmetar", "ThirdWave.csv")

datasets <- list()
add_dataset <- function(name, source, yi, vi, mods = NULL) {
  datasets[[name]] <<- list(name = name, source = source, yi = as.numeric(yi),
                            vi = as.numeric(vi), mods = mods)
}

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add_dataset("bcg", "metadat dat.bcg, log risk ratio", bcg$yi, bcg$vi,
            list(ablat = bcg$ablat, year = bcg$year, alloc = as.character(bcg$alloc)))
nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
              n2i = n2i, data = dat.normand1999)
add_dataset("normand1999", "metadat dat.normand1999, mean difference", nor$yi, nor$vi)
add_dataset("hackshaw1998", "metadat dat.hackshaw1998, log odds ratio",
            dat.hackshaw1998$yi, dat.hackshaw1998$vi)
mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
add_dataset("molloy2014", "metadat dat.molloy2014, Fisher z", mol$yi, mol$vi)
add_dataset("raudenbush1985", "metadat dat.raudenbush1985, SMD",
            dat.raudenbush1985$yi, dat.raudenbush1985$vi,
            list(weeks = dat.raudenbush1985$weeks))
bd <- dat.bangertdrowns2004[!is.na(dat.bangertdrowns2004$length) &
                            !is.na(dat.bangertdrowns2004$grade), ]
add_dataset("bangertdrowns2004", "metadat dat.bangertdrowns2004 (rows with length and grade), SMD",
            bd$yi, bd$vi, list(length = bd$length, grade = as.character(bd$grade)))
cur <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
              n2i = n2i, data = dat.curtis1998)
add_dataset("curtis1998", "metadat dat.curtis1998, log ratio of means", cur$yi, cur$vi)
li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
li <- li[!is.na(li$yi), ]
add_dataset("li2007", "metadat dat.li2007, log odds ratio (estimable rows)", li$yi, li$vi)
if (file.exists(thirdwave_path)) {
  tw <- read.csv(thirdwave_path)
  add_dataset("thirdwave", "dmetar ThirdWave (Harrer et al. 2021), SMD", tw$TE, tw$seTE^2,
              list(RiskOfBias = tw$RiskOfBias, InterventionType = tw$InterventionType,
                   TypeControlGroup = tw$TypeControlGroup))
}
# Edge cases
add_dataset("edge_k2", "first two bcg trials", bcg$yi[1:2], bcg$vi[1:2])
add_dataset("edge_k3", "first three normand1999 studies", nor$yi[1:3], nor$vi[1:3])
add_dataset("edge_homogeneous", "made-up: effects far less spread than their variances (tau2 = 0)",
            c(0.10, 0.12, 0.11, 0.09, 0.10, 0.105), c(0.04, 0.05, 0.03, 0.06, 0.05, 0.045))
add_dataset("edge_huge_heterogeneity", "made-up: effects spread far beyond their variances",
            c(-3, 5, 0.5, 8, -6, 2, 11), c(0.01, 0.02, 0.015, 0.01, 0.03, 0.02, 0.05))
add_dataset("edge_one_huge_study", "made-up: one study with variance 1e-4 among variances ~0.2",
            c(0.30, 0.80, -0.20, 0.55, 1.10, 0.05), c(1e-4, 0.10, 0.20, 0.15, 0.30, 0.25))
add_dataset("edge_equal_effects", "made-up: identical effects", rep(0.4, 5),
            c(0.02, 0.05, 0.04, 0.03, 0.06))

num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)

pool_case <- function(d, method, test) {
  res <- try(suppressWarnings(rma(d$yi, d$vi, method = method, test = test, control = tight)),
             silent = TRUE)
  if (inherits(res, "try-error")) return(list(error = as.character(res)))
  pr <- predict(res)
  out <- list(estimate = num(res$beta), se = num(res$se), statistic = num(res$zval),
              p_value = num(res$pval), ci_lower = num(res$ci.lb), ci_upper = num(res$ci.ub),
              pi_lower = num(pr$pi.lb), pi_upper = num(pr$pi.ub), tau2 = num(res$tau2),
              i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE), q_p = num(res$QEp))
  if (method != "FE") {
    ci <- try(suppressWarnings(confint(res, control = list(tol = 1e-13, tau2.max = 1e7))),
               silent = TRUE)
    if (!inherits(ci, "try-error")) {
      out$tau2_ci_lower <- num(ci$random["tau^2", "ci.lb"])
      out$tau2_ci_upper <- num(ci$random["tau^2", "ci.ub"])
    }
  }
  out
}

metareg_case <- function(d, modnames, method, test) {
  mf <- as.data.frame(d$mods[modnames], stringsAsFactors = TRUE)
  form <- as.formula(paste("~", paste(modnames, collapse = " + ")))
  res <- try(suppressWarnings(rma(d$yi, d$vi, mods = form, data = mf, method = method,
                                  test = test, control = tight)), silent = TRUE)
  if (inherits(res, "try-error")) return(list(error = as.character(res)))
  list(terms = rownames(res$beta), estimate = num(res$beta), se = num(res$se),
       statistic = num(res$zval), p_value = num(res$pval), ci_lower = num(res$ci.lb),
       ci_upper = num(res$ci.ub), qm = num(res$QM), qm_df = num(res$QMdf), qm_p = num(res$QMp),
       qe = num(res$QE), qe_p = num(res$QEp), tau2 = num(res$tau2), i2 = num(res$I2),
       h2 = num(res$H2), r2 = num(res$R2))
}

subgroup_case <- function(d, by, method, test) {
  g <- d$mods[[by]]
  groups <- lapply(sort(unique(g)), function(level) {
    rows <- g == level
    res <- suppressWarnings(rma(d$yi[rows], d$vi[rows], method = method, test = test,
                                control = tight))
    list(level = level, k = res$k, estimate = num(res$beta), se = num(res$se),
         ci_lower = num(res$ci.lb), ci_upper = num(res$ci.ub), tau2 = num(res$tau2),
         i2 = num(res$I2))
  })
  est <- sapply(groups, `[[`, "estimate")
  se <- sapply(groups, `[[`, "se")
  between <- rma(est, sei = se, method = "FE")
  common <- suppressWarnings(rma(d$yi, d$vi, mods = ~ factor(g), method = method, test = test,
                                 control = tight))
  list(groups = groups, q_between = num(between$QE), q_between_p = num(between$QEp),
       qm_common_tau2 = num(common$QM), qm_common_tau2_p = num(common$QMp))
}

metareg_specs <- list(
  list(data = "bcg", mods = c("ablat")),
  list(data = "bcg", mods = c("ablat", "year")),
  list(data = "bcg", mods = c("alloc")),
  list(data = "raudenbush1985", mods = c("weeks")),
  list(data = "bangertdrowns2004", mods = c("length", "grade")))
subgroup_specs <- list(list(data = "bcg", by = "alloc"),
                       list(data = "bangertdrowns2004", by = "grade"))
if (!is.null(datasets$thirdwave)) {
  metareg_specs[[length(metareg_specs) + 1]] <- list(data = "thirdwave", mods = c("InterventionType"))
  subgroup_specs[[length(subgroup_specs) + 1]] <- list(data = "thirdwave", by = "RiskOfBias")
}

cases <- list(pool = list(), metareg = list(), subgroup = list())
for (d in datasets) for (m in methods) for (t in tests)
  cases$pool[[length(cases$pool) + 1]] <- list(data = d$name, method = m, test = t,
                                               result = pool_case(d, m, t))
for (s in metareg_specs) for (m in methods) for (t in tests)
  cases$metareg[[length(cases$metareg) + 1]] <- list(data = s$data, mods = s$mods, method = m,
    test = t, result = metareg_case(datasets[[s$data]], s$mods, m, t))
for (s in subgroup_specs) for (m in c("DL", "REML", "PM")) for (t in tests)
  cases$subgroup[[length(cases$subgroup) + 1]] <- list(data = s$data, by = s$by, method = m,
    test = t, result = subgroup_case(datasets[[s$data]], s$by, m, t))

# Effect sizes: Hedges' g (escalc SMD, vtype LS) from means/SDs, t statistics and change scores.
smd_cases <- data.frame(
  m1 = c(10.2, 25.0, 3.1, 50, 0.8), sd1 = c(3.1, 6.2, 1.1, 12, 0.3), n1 = c(20, 45, 12, 150, 8),
  m2 = c(8.9, 27.5, 2.5, 47, 0.9), sd2 = c(2.9, 5.8, 1.4, 11, 0.35), n2 = c(22, 40, 13, 148, 9))
smd <- escalc(measure = "SMD", m1i = m1, sd1i = sd1, n1i = n1, m2i = m2, sd2i = sd2, n2i = n2,
              data = smd_cases)
t_cases <- data.frame(t = c(2.1, -1.3, 0.4, 3.7), n1 = c(30, 15, 60, 25), n2 = c(28, 16, 55, 30))
smd_t <- escalc(measure = "SMD", ti = t, n1i = n1, n2i = n2, data = t_cases)
# pre/post with an assumed pre-post correlation r: SD of change = sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre sd_post)
pp <- data.frame(pre1 = c(20, 14.2), sdpre1 = c(5, 3.3), post1 = c(15, 11.0), sdpost1 = c(5.5, 3.0),
                 n1 = c(30, 24), pre2 = c(19.5, 14.0), sdpre2 = c(5.2, 3.1), post2 = c(18.4, 13.6),
                 sdpost2 = c(5.1, 3.4), n2 = c(31, 26), r = c(0.5, 0.7))
pp$sdc1 <- sqrt(pp$sdpre1^2 + pp$sdpost1^2 - 2 * pp$r * pp$sdpre1 * pp$sdpost1)
pp$sdc2 <- sqrt(pp$sdpre2^2 + pp$sdpost2^2 - 2 * pp$r * pp$sdpre2 * pp$sdpost2)
smd_pp <- escalc(measure = "SMD", m1i = post1 - pre1, sd1i = sdc1, n1i = n1, m2i = post2 - pre2,
                 sd2i = sdc2, n2i = n2, data = pp)
effects <- list(
  means = c(as.list(smd_cases), list(yi = as.numeric(smd$yi), vi = as.numeric(smd$vi))),
  t_statistic = c(as.list(t_cases), list(yi = as.numeric(smd_t$yi), vi = as.numeric(smd_t$vi))),
  pre_post = c(as.list(pp[, c("pre1", "sdpre1", "post1", "sdpost1", "n1", "pre2", "sdpre2",
                              "post2", "sdpost2", "n2", "r")]),
               list(yi = as.numeric(smd_pp$yi), vi = as.numeric(smd_pp$vi))))

out <- list(metafor_version = as.character(packageVersion("metafor")),
            generated_by = "scripts/metafor_reference.R",
            datasets = unname(lapply(datasets, function(d) d[c("name", "source", "yi", "vi", "mods")])),
            pool = cases$pool, metareg = cases$metareg, subgroup = cases$subgroup,
            effects = effects)
dir.create(file.path("tests", "fixtures"), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_core.json"))
cat("wrote tests/fixtures/metafor_core.json\n")
