#!/usr/bin/env Rscript
# Reference values from metafor for publication-bias and sensitivity analyses.
#
# Run from the project root:  Rscript scripts/metafor_bias_reference.R
# Writes tests/fixtures/metafor_bias.json (data sets are read from metafor_core.json's
# sources again here, so both fixtures describe the same numbers).  CI does not run it.
# Needs metafor >= 5.1 in /opt/rlib-current (see helpers' notes); the JSON records its version.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(packageVersion("metafor") >= "5.1")

tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-13)
num <- function(x) if (is.null(x) || length(x) == 0) NA else as.numeric(x)

# Data are rounded to the 15 significant digits that the JSON keeps, so that R computes on
# exactly the numbers the Python tests read (rank tests are sensitive to the last digit).
datasets <- list()
add <- function(name, yi, vi) datasets[[name]] <<- list(name = name, yi = signif(as.numeric(yi), 15),
                                                      vi = signif(as.numeric(vi), 15))
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add("bcg", bcg$yi, bcg$vi)
nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999)
add("normand1999", nor$yi, nor$vi)
add("hackshaw1998", dat.hackshaw1998$yi, dat.hackshaw1998$vi)
mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
add("molloy2014", mol$yi, mol$vi)
add("raudenbush1985", dat.raudenbush1985$yi, dat.raudenbush1985$vi)
li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
li <- li[!is.na(li$yi), ]
add("li2007", li$yi, li$vi)
cur <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.curtis1998)
add("curtis1998", cur$yi, cur$vi)
tw_path <- file.path("..", "shared", "data", "dmetar", "ThirdWave.csv")
if (file.exists(tw_path)) {
  tw <- read.csv(tw_path)
  add("thirdwave", tw$TE, tw$seTE^2)
}

regtest_values <- function(rt) {
  list(statistic = num(rt$zval), p_value = num(rt$pval), df = num(rt$ddf),
       coefficient = num(coef(summary(rt$fit))[2, 1]), coefficient_se = num(coef(summary(rt$fit))[2, 2]),
       limit_estimate = num(rt$est), limit_ci_lower = num(rt$ci.lb), limit_ci_upper = num(rt$ci.ub))
}
regtest_rma_values <- function(rt) {
  list(statistic = num(rt$zval), p_value = num(rt$pval), df = num(rt$ddf),
       coefficient = num(rt$fit$beta[2]), coefficient_se = num(rt$fit$se[2]),
       limit_estimate = num(rt$est), limit_ci_lower = num(rt$ci.lb), limit_ci_upper = num(rt$ci.ub))
}

cases <- list()
for (d in datasets) for (method in c("REML", "DL", "FE")) {
  res <- suppressWarnings(rma(d$yi, d$vi, method = method, control = tight))
  out <- list(data = d$name, method = method)
  out$egger_lm <- regtest_values(regtest(res, model = "lm"))
  out$peese_lm <- regtest_values(regtest(res, model = "lm", predictor = "vi"))
  out$egger_rma <- regtest_rma_values(suppressWarnings(regtest(res)))  # refits with res$control
  rk <- suppressWarnings(ranktest(res))
  out$ranktest <- list(tau = num(rk$tau), p_value = num(rk$pval))
  out$trimfill <- list()
  for (estimator in c("L0", "R0")) for (side in c("auto", "left", "right")) {
    # metafor 5.1's trimfill() refits with res$control (the tight settings above)
    tf <- if (side == "auto") suppressWarnings(trimfill(res, estimator = estimator))
          else suppressWarnings(trimfill(res, estimator = estimator, side = side))
    # its final fit on the filled data takes metafor's default control (5.1 passes no control to
    # it), which stops short of the optimum; refit the same data tightly for the true optimum
    ff <- suppressWarnings(rma(tf$yi, tf$vi, method = method, control = tight))
    out$trimfill[[length(out$trimfill) + 1]] <- list(
      estimator = estimator, side_requested = side, side = tf$side, k0 = num(tf$k0),
      estimate = num(ff$beta), se = num(ff$se), ci_lower = num(ff$ci.lb), ci_upper = num(ff$ci.ub),
      tau2 = num(ff$tau2), filled_yi = num(tf$yi[tf$fill]), filled_vi = num(tf$vi[tf$fill]))
  }
  # metafor >= 4.4 weights Orwin's mean by 1/vi when vi are given; without vi it is unweighted
  fs <- list(rosenthal = fsn(d$yi, d$vi), orwin = fsn(d$yi, type = "Orwin"),
             orwin_weighted = fsn(d$yi, d$vi, type = "Orwin"),
             rosenberg = fsn(d$yi, d$vi, type = "Rosenberg"))
  out$fsn <- lapply(fs, function(f) list(n = num(f$fsnum), p_value = num(f$pval), target = num(f$target),
                                         mean = num(f$meanes)))
  for (test in c("z", "knha")) {
    r2 <- suppressWarnings(rma(d$yi, d$vi, method = method, test = test, control = tight))
    l1 <- suppressWarnings(leave1out(r2))
    inf <- suppressWarnings(influence(r2))
    bj <- suppressWarnings(baujat(r2, progbar = FALSE))
    cu <- suppressWarnings(cumul(r2, order = d$vi))  # order by this variable (ties kept in row order)
    out[[paste0("leave1out_", test)]] <- list(estimate = num(l1$estimate), se = num(l1$se),
      statistic = num(if (is.null(l1$zval)) l1$tval else l1$zval), p_value = num(l1$pval), ci_lower = num(l1$ci.lb), ci_upper = num(l1$ci.ub),
      q = num(l1$Q), q_p = num(l1$Qp), tau2 = num(l1$tau2), i2 = num(l1$I2), h2 = num(l1$H2))
    out[[paste0("influence_", test)]] <- list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
      cook_d = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r), tau2_del = num(inf$inf$tau2.del),
      q_del = num(inf$inf$QE.del), hat = num(inf$inf$hat), weight = num(inf$inf$weight),
      dfbetas = num(inf$dfbs[[1]]), influential = as.logical(inf$is.infl))
    out[[paste0("baujat_", test)]] <- list(x = num(bj$x), y = num(bj$y))
    out[[paste0("cumulative_", test)]] <- list(order = order(d$vi), estimate = num(cu$estimate),
      se = num(cu$se), ci_lower = num(cu$ci.lb), ci_upper = num(cu$ci.ub), q = num(cu$Q),
      tau2 = num(cu$tau2), i2 = num(cu$I2))
  }
  cases[[length(cases) + 1]] <- out
}

output <- list(metafor_version = as.character(packageVersion("metafor")),
               generated_by = "scripts/metafor_bias_reference.R",
               datasets = unname(lapply(datasets, function(d) d[c("name", "yi", "vi")])), cases = cases)
writeLines(toJSON(output, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE),
           file.path("tests", "fixtures", "metafor_bias.json"))
cat("wrote tests/fixtures/metafor_bias.json\n")
