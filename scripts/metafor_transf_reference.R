# Reference back-transformed pooled estimates, CIs and PIs: metafor's predict(rma(...), transf=)
# on metafor's example data (metadat), and the transf.* functions on a grid of values.
# Output: tests/fixtures/metafor_transf.json (read by tests/test_transforms.py).
# REML runs with a tight tolerance (threshold 1e-12), as in scripts/metafor_reference.R, so that
# the reference pooled estimates are converged beyond metafor's default stopping point.
#   Rscript scripts/metafor_transf_reference.R
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})

bcg <- with(dat.bcg, data.frame(ai = tpos, bi = tneg, ci = cpos, di = cneg, alloc = alloc, ablat = ablat))
pritz <- dat.pritz1997[, c("xi", "ni")]
molloy <- dat.molloy2014[, c("ri", "ni")]
hart1 <- with(dat.hart1999, data.frame(xi = x1i, ti = t1i))

fits <- list(
  list(name = "bcg_RR", measure = "RR", data = bcg, transf = "exp"),
  list(name = "bcg_OR", measure = "OR", data = bcg, transf = "exp"),
  list(name = "molloy_ZCOR", measure = "ZCOR", data = molloy, transf = "ztor"),
  list(name = "pritz_PLO", measure = "PLO", data = pritz, transf = "ilogit"),
  list(name = "pritz_PAS", measure = "PAS", data = pritz, transf = "iarcsin"),
  list(name = "pritz_PFT", measure = "PFT", data = pritz, transf = "ipft.hm"),
  list(name = "hart_IRS", measure = "IRS", data = hart1, transf = "isqrt"))

tight <- list(threshold = 1e-12, maxiter = 10000)
functions <- list(exp = exp, ztor = transf.ztor, ilogit = transf.ilogit, iarcsin = transf.iarcsin,
                  isqrt = transf.isqrt, iprobit = transf.iprobit, ipft.hm = transf.ipft.hm)

one <- function(fit, method) {
  dat <- do.call(escalc, c(list(measure = fit$measure),
                           as.list(fit$data[, setdiff(names(fit$data), c("alloc", "ablat"))])))
  res <- rma(yi, vi, data = dat, method = method, control = tight)
  targs <- if (fit$transf == "ipft.hm") list(ni = fit$data$ni) else NULL
  p <- predict(res, transf = functions[[fit$transf]], targs = targs)
  list(name = fit$name, measure = fit$measure, transf = fit$transf, method = method,
       yi = as.numeric(dat$yi), vi = as.numeric(dat$vi), ni = fit$data$ni,
       estimate = as.numeric(coef(res)), ci_lower = res$ci.lb, ci_upper = res$ci.ub,
       pi_lower = predict(res)$pi.lb, pi_upper = predict(res)$pi.ub,
       estimate_transf = p$pred, ci_lower_transf = p$ci.lb, ci_upper_transf = p$ci.ub,
       pi_lower_transf = p$pi.lb, pi_upper_transf = p$pi.ub)
}
pooled <- list()
for (fit in fits) for (method in c("REML", "DL")) pooled[[length(pooled) + 1]] <- one(fit, method)

# subgroups: the BCG log risk ratios by allocation, one REML fit per level, back-transformed
dat <- escalc(measure = "RR", ai = ai, bi = bi, ci = ci, di = di, data = bcg)
subgroups <- lapply(sort(unique(dat$alloc)), function(level) {
  p <- predict(rma(yi, vi, data = dat, subset = alloc == level, control = tight), transf = exp)
  list(group = level, estimate_transf = p$pred, ci_lower_transf = p$ci.lb, ci_upper_transf = p$ci.ub,
       pi_lower_transf = p$pi.lb, pi_upper_transf = p$pi.ub)
})

# the other commands' back-transformed values on the BCG log risk ratios (REML, tight): metareg's
# predictions at absolute latitudes 10, 33.5 and 55 (predict(newmods =, transf = exp)), sensitivity's
# leave-one-out and cumulative estimates (leave1out(), cumul() with transf = exp) and bias's
# trim-and-fill adjusted fit (predict(trimfill(), transf = exp))
res <- rma(yi, vi, data = dat, control = tight)
frame <- function(x, names) lapply(setNames(names, names), function(n) as.numeric(x[[n]]))
latitudes <- c(10, 33.5, 55)
# trimfill() refits the filled-in data with rma()'s default control (its threshold 1e-5 leaves the
# estimate 2e-8 from convergence); the same filled-in data, refitted to threshold 1e-12:
tf <- trimfill(res)
filled <- rma(tf$yi, tf$vi, control = tight)
reg <- predict(rma(yi, vi, mods = ~ ablat, data = dat, control = tight), newmods = latitudes, transf = exp)
others <- list(
  metareg = c(list(ablat = latitudes), frame(reg, c("pred", "ci.lb", "ci.ub", "pi.lb", "pi.ub"))),
  leave1out = frame(leave1out(res, transf = exp), c("estimate", "ci.lb", "ci.ub")),
  cumul = frame(cumul(res, transf = exp), c("estimate", "ci.lb", "ci.ub")),
  trimfill = frame(predict(filled, transf = exp), c("pred", "ci.lb", "ci.ub", "pi.lb", "pi.ub")),
  # forest(res, transf = exp) draws each study at summary(escalc, transf = exp)'s yi, ci.lb, ci.ub
  forest_studies = frame(summary(dat, transf = exp), c("yi", "ci.lb", "ci.ub")))

x <- c(-3, -1.2, -0.3, 0, 0.05, 0.4, 0.9, 1.5, 1.6, 2.5)
values <- lapply(functions[c("exp", "ztor", "ilogit", "iarcsin", "isqrt", "iprobit")], function(f) f(x))
values[["ipft.hm"]] <- transf.ipft.hm(x, targs = list(ni = c(10, 20, 50)))

out <- list(metafor_version = as.character(packageVersion("metafor")),
            metadat_version = as.character(packageVersion("metadat")),
            pooled = pooled, subgroups = subgroups, alloc = as.character(dat$alloc),
            bcg_rr = list(yi = as.numeric(dat$yi), vi = as.numeric(dat$vi), ablat = dat$ablat), others = others,
            grid = list(x = x, ipft_hm_ni = c(10, 20, 50), values = values))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", null = "null"), "tests/fixtures/metafor_transf.json")
cat(length(pooled), "pooled fits written\n")
