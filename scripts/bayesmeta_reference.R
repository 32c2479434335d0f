#!/usr/bin/env Rscript
# Reference values from R's bayesmeta for compassmeta's Bayesian model (models/bayes.py).
#
# Run from the project root:  Rscript scripts/bayesmeta_reference.R
# Writes tests/fixtures/bayesmeta.json.  Needs bayesmeta (and its dependencies forestplot,
# mvtnorm, numDeriv), metafor and jsonlite; the library /opt/rlib-current is searched first.
# CI does not run this script; it reads the committed JSON.
#
# Every number comes from a bayesmeta() or bmr() fit or from the functions the fit returns
# (pposterior, qposterior, dposterior).  bayesmeta's own modes and shortest intervals come from
# optimize() at its default tolerance (about 1e-4); the script also records them from the same
# functions with optimize(tol = 1e-12), so that they can be compared at 1e-6.
# With the Rhodes et al. (log-t) priors bayesmeta 3.4 stops ("extremely bad integrand
# behaviour": the prior density grows without bound towards tau = 0); those fits are recorded
# with bayesmeta's error message.
.libPaths(c("/opt/rlib-current", .libPaths()))
suppressMessages({library(bayesmeta); library(metafor); library(jsonlite)})

tight <- 1e-12
tw <- read.csv(file.path("studies", "thirdwave.csv"), stringsAsFactors = FALSE)
data("CrinsEtAl2014"); data("Rubin1981")
crins <- escalc(measure = "OR", ai = exp.AR.events, n1i = exp.total, ci = cont.AR.events,
                n2i = cont.total, data = CrinsEtAl2014)

datasets <- list(
  crins2014 = list(source = "bayesmeta CrinsEtAl2014, log odds ratio of acute rejection (escalc OR)",
                   yi = as.numeric(crins$yi), vi = as.numeric(crins$vi),
                   labels = as.character(CrinsEtAl2014$publication), outcome = "turner",
                   priors = c("halfnormal:0.5", "halfcauchy:1", "turner:any"), mu_sd = 4),
  rubin1981 = list(source = "bayesmeta Rubin1981 (eight schools), effect and stderr",
                   yi = Rubin1981$effect, vi = Rubin1981$stderr^2, labels = Rubin1981$school,
                   priors = c("halfnormal:0.5", "halfcauchy:1", "turner:any"), mu_sd = 50),
  thirdwave = list(source = "studies/thirdwave.csv, g and se (dmetar ThirdWave)",
                   yi = tw$g, vi = tw$se^2, labels = tw$es_id,
                   priors = c("halfnormal:0.5", "halfcauchy:1", "turner:mental-health", "rhodes:mental-health"), mu_sd = 4),
  thirdwave_k2 = list(source = "studies/thirdwave.csv, first 2 rows", yi = tw$g[1:2], vi = tw$se[1:2]^2,
                      labels = tw$es_id[1:2],
                      priors = c("halfnormal:0.5", "halfcauchy:1", "turner:mental-health", "rhodes:mental-health"), mu_sd = 4),
  thirdwave_k3 = list(source = "studies/thirdwave.csv, first 3 rows", yi = tw$g[1:3], vi = tw$se[1:3]^2,
                      labels = tw$es_id[1:3],
                      priors = c("halfnormal:0.5", "halfcauchy:1", "turner:mental-health", "rhodes:mental-health"), mu_sd = 4))

tau_prior <- function(spec) {
  parts <- strsplit(spec, ":")[[1]]
  switch(parts[1],
         halfnormal = function(t) dhalfnormal(t, scale = as.numeric(parts[2])),
         halfcauchy = function(t) dhalfcauchy(t, scale = as.numeric(parts[2])),
         turner = if (parts[2] == "any") TurnerEtAlPrior(outcome = NA)$dprior else
           TurnerEtAlPrior("mental health indicators", "non-pharmacological", "placebo / control")$dprior,
         rhodes = if (parts[2] == "any") RhodesEtAlPrior(outcome = NA)$dprior else
           RhodesEtAlPrior("mental health outcome", "non-pharmacological", "placebo / control")$dprior)
}

shortest <- function(qf, pf, lower, upper) {
  width <- function(left) qf(0.95 + pf(left)) - left
  left <- optimize(width, lower = lower, upper = upper, tol = tight)$minimum
  if (width(lower) <= width(left)) left <- lower
  c(left, qf(0.95 + pf(left)))
}

summaries <- function(fit, which) {
  if (which == "tau") {
    qf <- function(p) fit$qposterior(tau.p = p); pf <- function(x) fit$pposterior(tau = x)
    df <- function(x) fit$dposterior(tau = x); low <- 0
  } else {
    pred <- which == "theta"
    qf <- function(p) fit$qposterior(mu.p = p, predict = pred)
    pf <- function(x) fit$pposterior(mu = x, predict = pred)
    df <- function(x) fit$dposterior(mu = x, predict = pred); low <- qf(0.001)
  }
  s <- fit$summary[, which]
  hpd <- shortest(qf, pf, low, qf(0.05))
  mode <- optimize(df, lower = if (which == "tau") 0 else qf(0.1), upper = qf(0.9), maximum = TRUE,
                   tol = tight)$maximum
  if (which == "tau" && df(0) >= df(mode)) mode <- 0
  list(bayesmeta_summary = as.list(s), mode = mode, median = qf(0.5),
       mean = unname(s["mean"]), sd = unname(s["sd"]),
       ci_lower = qf(0.025), ci_upper = qf(0.975), hpd_lower = hpd[1], hpd_upper = hpd[2])
}

fit_record <- function(d, spec, mu_prior) {
  fit <- if (is.null(mu_prior)) {
    bayesmeta(y = d$yi, sigma = sqrt(d$vi), labels = d$labels, tau.prior = tau_prior(spec))
  } else {
    bayesmeta(y = d$yi, sigma = sqrt(d$vi), labels = d$labels, tau.prior = tau_prior(spec),
              mu.prior.mean = mu_prior[1], mu.prior.sd = mu_prior[2])
  }
  shrink <- lapply(seq_len(fit$k), function(i) list(
    es_id = d$labels[i], mean = unname(fit$theta["mean", i]), median = unname(fit$theta["median", i]),
    sd = unname(fit$theta["sd", i]),
    ci_lower = fit$qposterior(mu.p = 0.025, individual = i),
    ci_upper = fit$qposterior(mu.p = 0.975, individual = i)))
  list(tau_prior = spec, mu_prior = if (is.null(mu_prior)) "uniform" else
         sprintf("normal:%g,%g", mu_prior[1], mu_prior[2]),
       tau = summaries(fit, "tau"), mu = summaries(fit, "mu"), theta_new = summaries(fit, "theta"),
       shrinkage = shrink, grid_size = nrow(fit$support),
       prob_mu_above_0.2 = 1 - fit$pposterior(mu = 0.2),
       prob_theta_new_above_0.2 = 1 - fit$pposterior(mu = 0.2, predict = TRUE),
       bayes_factor_tau0 = unname(fit$bayesfactor["actual", "tau=0"]),
       bayes_factor_mu0 = unname(fit$bayesfactor["actual", "mu=0"]),
       marginal_likelihood = as.numeric(fit$marginal.likelihood),
       I2_at_median = fit$I2(fit$summary["median", "tau"]))
}

fits <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  for (spec in d$priors) {
    for (mu_prior in list(NULL, c(0, d$mu_sd))) {
      cat(name, spec, if (is.null(mu_prior)) "uniform" else "normal", "\n")
      rec <- tryCatch(fit_record(d, spec, mu_prior), error = function(e)
        list(tau_prior = spec, mu_prior = if (is.null(mu_prior)) "uniform" else
               sprintf("normal:%g,%g", mu_prior[1], mu_prior[2]), error = conditionMessage(e)))
      rec$data <- name
      fits[[length(fits) + 1]] <- rec
    }
  }
}

# bayesmeta's printed example (Roever 2020, sec. 3.1; vignette): eight schools, half-Cauchy(25), N(0, 50).
example <- bayesmeta(y = Rubin1981$effect, sigma = Rubin1981$stderr, labels = Rubin1981$school,
                     mu.prior.mean = 0, mu.prior.sd = 50, tau.prior = function(t) dhalfcauchy(t, scale = 25))

# bmr(): ThirdWave on risk of bias (intercept = high, slope = low), half-normal(0.5), flat betas,
# and normal(0, 4) priors on both coefficients.
X <- cbind(intercept = 1, "risk_of_bias[low]" = as.numeric(tw$risk_of_bias == "low"))
bmr_record <- function(beta_sd) {
  fit <- if (is.null(beta_sd)) {
    bmr(y = tw$g, sigma = tw$se, labels = tw$es_id, X = X, tau.prior = function(t) dhalfnormal(t, scale = 0.5))
  } else {
    bmr(y = tw$g, sigma = tw$se, labels = tw$es_id, X = X, tau.prior = function(t) dhalfnormal(t, scale = 0.5),
        beta.prior.mean = c(0, 0), beta.prior.sd = c(beta_sd, beta_sd))
  }
  coefs <- lapply(seq_len(ncol(X)), function(i) list(
    term = colnames(X)[i], mean = unname(fit$summary["mean", i + 1]), sd = unname(fit$summary["sd", i + 1]),
    median = unname(fit$summary["median", i + 1]),
    ci_lower = fit$qposterior(beta.p = 0.025, which.beta = i),
    ci_upper = fit$qposterior(beta.p = 0.975, which.beta = i)))
  list(tau_prior = "halfnormal:0.5", beta_prior_sd = if (is.null(beta_sd)) NULL else beta_sd,
       moderator = "risk_of_bias", coefficients = coefs,
       tau = list(median = fit$qposterior(tau.p = 0.5), mean = unname(fit$summary["mean", "tau"]),
                  sd = unname(fit$summary["sd", "tau"]), ci_lower = fit$qposterior(tau.p = 0.025),
                  ci_upper = fit$qposterior(tau.p = 0.975)),
       grid_size = length(fit$support$tau))
}

out <- list(
  generated_by = "scripts/bayesmeta_reference.R",
  bayesmeta_version = as.character(packageVersion("bayesmeta")),
  metafor_version = as.character(packageVersion("metafor")),
  R_version = R.version.string,
  datasets = lapply(datasets, function(d) d[c("source", "yi", "vi", "labels")]),
  fits = fits,
  printed_example = list(tau_prior = "halfcauchy:25", mu_prior = "normal:0,50",
                         summary = lapply(c("tau", "mu", "theta"), function(w) as.list(example$summary[, w])),
                         bayesfactor = as.list(example$bayesfactor["actual", ]),
                         marginal_likelihood = as.numeric(example$marginal.likelihood)),
  turner_parameters = TurnerEtAlPrior(outcome = NA)$parameters["tau", ],
  turner_mental_health = TurnerEtAlPrior("mental health indicators", "non-pharmacological",
                                         "placebo / control")$parameters["tau", ],
  rhodes_mental_health = RhodesEtAlPrior("mental health outcome", "non-pharmacological",
                                         "placebo / control")$parameters["tau", ],
  bmr = list(bmr_record(NULL), bmr_record(4)))
names(out$printed_example$summary) <- c("tau", "mu", "theta")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE),
           file.path("tests", "fixtures", "bayesmeta.json"))
cat("wrote tests/fixtures/bayesmeta.json\n")
