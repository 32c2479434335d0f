# Reference yi/vi of metafor's escalc() for every measure x vtype compassmeta implements, on
# metafor's own example data (metadat package), plus continuity-correction (add/to) variants with
# zero cells.  Output: tests/fixtures/metafor_escalc.json (read by tests/test_escalc.py).
#   Rscript scripts/metafor_escalc_reference.R
# Needs metafor 5.1-12 in /opt/rlib-current, metadat, jsonlite and gsl (for UCOR).
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})

# inputs named as escalc's arguments
bcg <- with(dat.bcg, data.frame(ai = tpos, bi = tneg, ci = cpos, di = cneg))
nielweise <- dat.nielweise2007[, c("ai", "n1i", "ci", "n2i")]            # zero cells
normand <- dat.normand1999[, c("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")]
curtis <- dat.curtis1998[, c("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")]  # ratio-scale means (ROM, CVR)
molloy <- dat.molloy2014[, c("ri", "ni")]
pritz <- dat.pritz1997[, c("xi", "ni")]                                  # two studies with xi = ni
debruin <- dat.debruin2009[, c("xi", "mi")]
hart <- dat.hart1999[, c("x1i", "x2i", "t1i", "t2i")]
hart1 <- with(dat.hart1999, data.frame(xi = x1i, ti = t1i))
# Morris (2008), Organizational Research Methods 11:364-386, treatment groups, as in metafor's
# test_analysis_example_morris2008.r and https://www.metafor-project.org/doku.php/analyses:morris2008
morris <- data.frame(m1i = c(38.5, 26.8, 0.7, 75.9, 36.0), m2i = c(30.6, 23.5, 0.5, 53.4, 35.6),
                     sd1i = c(11.6, 4.1, 0.1, 4.4, 4.6), sd2i = c(15.0, 3.1, 0.1, 14.5, 4.7),
                     ni = c(20, 50, 9, 10, 14), ri = c(.47, .64, .77, .89, .44))
morris_pre <- transform(morris, sd1i = sd2i)   # SMCR standardised by the pre-test SD, as in Morris (2008)
# the control groups of the same five studies (Morris 2008; metafor's test_analysis_example_morris2008.r):
# post mean, pre mean, pre-test SD, n, r
morris_control_pre <- data.frame(m1i = c(19.7, 25.3, 0.6, 60.7, 33.4), m2i = c(23.1, 24.9, 0.6, 55.7, 34.8),
                                 sd1i = c(13.8, 4.1, 0.2, 17.3, 3.1), ni = c(20, 42, 9, 11, 14),
                                 ri = c(.47, .64, .77, .89, .44))
mcdaniel <- dat.mcdaniel1994[, c("ri", "ni")]    # correlations with r = 0, r = 0.99 and n down to 6
# edge cases (constructed inputs, after metafor's tests: test_misc_escalc.r and
# test_misc_handling_of_edge_cases_due_to_zeros.r): tables without events / without non-events,
# proportions of 0 and 1, tiny samples, a paired design with one pair of means
no_events <- data.frame(ai = c(0, 0, 0, 0), bi = c(10, 15, 20, 25), ci = c(0, 0, 0, 0), di = c(10, 10, 30, 20))
all_events <- data.frame(ai = c(10, 15, 20, 25), bi = c(0, 0, 0, 0), ci = c(10, 10, 30, 20), di = c(0, 0, 0, 0))
props_edge <- data.frame(xi = c(0, 5, 10, 0), ni = c(10, 10, 10, 1))
rates_edge <- data.frame(xi = c(0, 10, 3), ti = c(100, 20, 0.5))
rates2_edge <- data.frame(x1i = c(0, 10, 0), x2i = c(4, 6, 0), t1i = c(100, 20, 50), t2i = c(120, 20, 50))
cor_edge <- data.frame(ri = c(0.5, 0.3, -0.2, 1, 0, 0.05), ni = c(3, 4, 5, 10, 12, 8))
smd_edge <- data.frame(m1i = c(1, 2, 3), m2i = c(0, 1, 1), sd1i = c(1, 1, 2), sd2i = c(1, 2, 2),
                       n1i = c(1, 2, 10), n2i = c(2, 2, 12))
# other statistics in place of means (metafor's di, ti, pi and ri routes), row by row
smd_stats <- data.frame(m1i = c(3.4, NA, NA, NA, NA, 5.0), m2i = c(2.9, NA, NA, NA, NA, 4.1),
                        sd1i = c(0.6, NA, NA, NA, NA, 1.2), sd2i = c(0.7, NA, NA, NA, NA, 1.1),
                        n1i = c(24, 30, 18, 40, 25, 15), n2i = c(22, 28, 20, 41, 26, 16),
                        di = c(NA, 0.45, NA, NA, NA, 0.2), ti = c(NA, NA, -2.1, NA, NA, NA),
                        pi = c(NA, NA, NA, 0.03, NA, NA), ri = c(NA, NA, NA, NA, 0.31, NA))
cor_stats <- data.frame(ri = c(0.25, NA, NA, NA), ti = c(NA, 2.4, -1.1, NA), pi = c(NA, NA, NA, -0.02),
                        ni = c(50, 80, 35, 120))
smcc_stats <- data.frame(m1i = c(26, NA, NA, NA), m2i = c(22, NA, NA, NA), sd1i = c(sqrt(30), NA, NA, NA),
                         sd2i = c(sqrt(20), NA, NA, NA), ri = c(0.7, NA, NA, NA), ni = c(60, 25, 30, 40),
                         di = c(NA, 0.5, NA, NA), ti = c(NA, NA, 3.2, NA), pi = c(NA, NA, NA, 0.04))
paired_one <- data.frame(m1i = 26, m2i = 22, sd1i = sqrt(30), sd2i = sqrt(20), ni = 60, ri = 0.7)

datasets <- list(bcg = bcg, nielweise2007 = nielweise, normand1999 = normand, curtis1998 = curtis,
                 molloy2014 = molloy, pritz1997 = pritz, debruin2009 = debruin, hart1999 = hart,
                 hart1999_group1 = hart1, morris2008 = morris, morris2008_pre = morris_pre,
                 morris2008_control_pre = morris_control_pre,
                 mcdaniel1994 = mcdaniel, no_events = no_events, all_events = all_events,
                 proportions_edge = props_edge, rates_edge = rates_edge, rates2_edge = rates2_edge,
                 cor_edge = cor_edge, smd_edge = smd_edge, paired_one = paired_one,
                 smd_statistics = smd_stats, cor_statistics = cor_stats, smcc_statistics = smcc_stats)

vtypes <- list(
  SMD = c("LS", "LS2", "UB", "AV", "H0"), SMD1 = c("LS", "LS2", "UB", "AV", "H0"), SMDH = c("LS", "LS2", "LS3"),
  MD = c("LS", "UB", "HO"), ROM = c("LS", "HO", "AV", "AVHO", "LS2"), VR = c("LS", "LS2"), CVR = c("LS", "LS2"),
  MC = "LS", SMCC = c("LS", "LS2", "UB", "H0"), SMCR = c("LS", "LS2", "UB", "H0"), SMCRH = c("LS", "LS2"),
  ROMC = c("LS", "LS2"), COR = c("LS", "AV", "H0"), UCOR = c("LS", "UB", "AV"), ZCOR = "LS",
  OR = c("LS", "AV", "H0"), RR = c("LS", "AV", "H0"), RD = c("LS", "UB", "AV", "H0"), AS = "LS", PETO = "LS",
  PR = c("LS", "UB", "AV"), PLN = c("LS", "AV"), PLO = c("LS", "AV"), PAS = "LS", PFT = "LS",
  IR = "LS", IRLN = "LS", IRS = "LS", IRFT = "LS", IRR = "LS", IRD = "LS", IRSD = "LS")

on <- list(SMD = "normand1999", SMD1 = "normand1999", SMDH = "normand1999", MD = "normand1999",
           ROM = "curtis1998", VR = "normand1999", CVR = "curtis1998",
           MC = "morris2008", SMCC = "morris2008", SMCR = "morris2008_pre", SMCRH = "morris2008_pre",
           ROMC = "morris2008", COR = "molloy2014", UCOR = "molloy2014", ZCOR = "molloy2014",
           OR = "bcg", RR = "bcg", RD = "bcg", AS = "bcg", PETO = "bcg",
           PR = "pritz1997", PLN = "pritz1997", PLO = "pritz1997", PAS = "pritz1997", PFT = "pritz1997",
           IR = "hart1999_group1", IRLN = "hart1999_group1", IRS = "hart1999_group1", IRFT = "hart1999_group1",
           IRR = "hart1999", IRD = "hart1999", IRSD = "hart1999")

run <- function(measure, dataset, vtype = "LS", add = NULL, to = NULL) {
  args <- c(list(measure = measure, vtype = vtype), as.list(datasets[[dataset]]))
  if (!is.null(add)) args$add <- add
  if (!is.null(to)) args$to <- to
  res <- suppressWarnings(do.call(escalc, args))
  list(measure = measure, dataset = dataset, vtype = vtype, add = add, to = to,
       yi = I(as.numeric(res$yi)), vi = I(as.numeric(res$vi)))
}

cases <- list()
for (measure in names(vtypes)) for (vtype in vtypes[[measure]])
  cases[[length(cases) + 1]] <- run(measure, on[[measure]], vtype)
# every measure on a second data set of its kind
more <- list(SMD = "curtis1998", MD = "curtis1998", SMDH = "curtis1998", VR = "curtis1998",
             ROM = "normand1999", CVR = "normand1999", SMCR = "morris2008", PR = "debruin2009",
             PLO = "debruin2009", PFT = "debruin2009", OR = "nielweise2007", RR = "nielweise2007",
             RD = "nielweise2007", AS = "nielweise2007", PETO = "nielweise2007")
for (measure in names(more)) for (vtype in vtypes[[measure]])
  cases[[length(cases) + 1]] <- run(measure, more[[measure]], vtype)
# edge cases, every vtype
edge <- list(mcdaniel1994 = c("COR", "UCOR", "ZCOR"), cor_edge = c("COR", "UCOR", "ZCOR"),
             no_events = c("OR", "RR", "RD", "AS", "PETO"), all_events = c("OR", "RR", "RD", "AS", "PETO"),
             proportions_edge = c("PR", "PLN", "PLO", "PAS", "PFT"), rates_edge = c("IR", "IRLN", "IRS", "IRFT"),
             rates2_edge = c("IRR", "IRD", "IRSD"), smd_edge = c("SMD", "SMD1", "SMDH", "MD"),
             paired_one = c("MC", "SMCC", "SMCR", "SMCRH", "ROMC"), smd_statistics = "SMD",
             cor_statistics = c("COR", "UCOR", "ZCOR"), smcc_statistics = "SMCC")
for (dataset in names(edge)) for (measure in edge[[dataset]]) for (vtype in vtypes[[measure]])
  cases[[length(cases) + 1]] <- run(measure, dataset, vtype)
for (dataset in c("no_events", "all_events")) for (to in c("all", "if0all", "none"))
  for (measure in c("OR", "RR", "RD", "AS", "PETO"))
    cases[[length(cases) + 1]] <- run(measure, dataset, "LS", 0.5, to)
# continuity corrections on zero cells (nielweise2007: 2x2 tables; pritz1997: xi = ni)
for (to in c("only0", "all", "if0all", "none")) for (add in c(0.5, 1 / 6, 0)) {
  for (measure in c("OR", "RR", "RD", "AS", "PETO"))
    cases[[length(cases) + 1]] <- run(measure, "nielweise2007", "LS", add, to)
  for (measure in c("PR", "PLN", "PLO", "PAS", "PFT"))
    cases[[length(cases) + 1]] <- run(measure, "pritz1997", "LS", add, to)
  for (measure in c("IR", "IRLN", "IRS", "IRFT"))
    cases[[length(cases) + 1]] <- run(measure, "hart1999_group1", "LS", add, to)
  for (measure in c("IRR", "IRD", "IRSD"))
    cases[[length(cases) + 1]] <- run(measure, "hart1999", "LS", add, to)
}

# GSL's hyperg_2F1 (metafor's .Fcalc, used by UCOR and by SMCR's UB/H0) errs by up to 1e-3 near
# x = 1 when c - a - b is an integer and c is small (cor_edge row 6: r = 0.05, n = 8).  The same
# escalc() calls again with .Fcalc evaluating Euler's integral by integrate() (rel.tol 1e-13):
euler_2F1 <- function(a, b, g, x) {
  mapply(function(g, x) {
    if (is.na(g) || is.na(x) || g <= a + b) return(NA_real_)
    w <- function(t) t^(b - 1) * (1 - t)^(g - b - 1)
    integrate(function(t) w(t) * (1 - x * t)^(-a), 0, 1, rel.tol = 1e-13, subdivisions = 1000)$value /
      integrate(w, 0, 1, rel.tol = 1e-13, subdivisions = 1000)$value
  }, rep_len(g, max(length(g), length(x))), rep_len(x, max(length(g), length(x))))
}
gsl_2F1 <- get(".Fcalc", envir = asNamespace("metafor"))
assignInNamespace(".Fcalc", euler_2F1, "metafor")
exact_2F1 <- list()
for (measure in c("UCOR")) for (vtype in vtypes[[measure]])
  exact_2F1[[length(exact_2F1) + 1]] <- run(measure, "cor_edge", vtype)
for (vtype in c("UB", "H0")) exact_2F1[[length(exact_2F1) + 1]] <- run("SMCR", "morris2008_pre", vtype)
assignInNamespace(".Fcalc", gsl_2F1, "metafor")

# Becker (1988) / Morris (2008) d_ppc1 of each study: SMCR of the treatment group minus SMCR of the
# control group, variances added (metafor's analyses:morris2008 page)
smcr_t <- run("SMCR", "morris2008_pre")
smcr_c <- run("SMCR", "morris2008_control_pre")
cases[[length(cases) + 1]] <- smcr_c
smcr_difference <- list(yi = I(smcr_t$yi - smcr_c$yi), vi = I(smcr_t$vi + smcr_c$vi))
# the same at assumed pre-post correlations, and their REML pool (pool --prepost-r on pre_post_smcr rows)
smcr_at_r <- lapply(c(0.3, 0.5, 0.7), function(r) {
  arm <- function(d) escalc(measure = "SMCR", m1i = d$m1i, m2i = d$m2i, sd1i = d$sd1i, ni = d$ni, ri = rep(r, 5))
  t <- arm(morris_pre); c <- arm(morris_control_pre)
  yi <- as.numeric(t$yi - c$yi); vi <- as.numeric(t$vi + c$vi)
  res <- rma(yi, vi, control = list(threshold = 1e-12, maxiter = 10000))   # REML, converged tightly
  list(r = r, yi = I(yi), vi = I(vi), estimate = as.numeric(coef(res)), ci_lower = res$ci.lb,
       ci_upper = res$ci.ub, tau2 = res$tau2)
})

out <- list(metafor_version = as.character(packageVersion("metafor")),
            metadat_version = as.character(packageVersion("metadat")),
            R_version = R.version.string,
            datasets = lapply(datasets, function(d) lapply(d, I)), cases = cases, exact_2F1 = exact_2F1,
            morris2008_smcr_difference = smcr_difference, morris2008_smcr_at_r = smcr_at_r)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", null = "null"),
           "tests/fixtures/metafor_escalc.json")
cat(length(cases), "cases written\n")
