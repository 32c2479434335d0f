# The shipped tables' effect sizes as the report's R references compute them (sourced by
# scripts/report_reference.R and scripts/bayesmeta_report_reference.R; run from the project root):
# escalc(measure = "SMD") (Hedges' g with the exact correction; from the means, or from Cohen's d and
# the ns for stat_type d rows), oriented so that positive favours the intervention; ThirdWave's g and
# se as given; `trials_path`, if set before sourcing, replaces studies/trials.csv.  composite():
# one effect per trial (mean of its rows, variance
# (sum v_i + r sum_{i != j} sqrt(v_i v_j)) / m^2, r = 0.5; Borenstein et al. 2009, ch. 24).
trials <- read.csv(if (exists("trials_path")) trials_path else "studies/trials.csv", stringsAsFactors = FALSE)
trials$yi <- NA_real_
trials$vi <- NA_real_
by_means <- trials$stat_type == "means"
es <- escalc(measure = "SMD", m1i = mean1, sd1i = sd1, n1i = n1, m2i = mean2, sd2i = sd2, n2i = n2,
             data = trials[by_means, ])
trials$yi[by_means] <- es$yi
trials$vi[by_means] <- es$vi
by_d <- trials$stat_type == "d"
if (any(by_d)) {
  es <- escalc(measure = "SMD", di = statistic, n1i = n1, n2i = n2, data = trials[by_d, ])
  trials$yi[by_d] <- es$yi
  trials$vi[by_d] <- es$vi
}
stopifnot(!anyNA(trials$yi), !anyNA(trials$vi))
flip <- tolower(trials$higher_is_better) == "false"
trials$yi[flip] <- -trials$yi[flip]
thirdwave <- read.csv("studies/thirdwave.csv", stringsAsFactors = FALSE)
thirdwave$yi <- thirdwave$g
thirdwave$vi <- thirdwave$se^2

composite <- function(d, r = 0.5) {
  do.call(rbind, lapply(split(d, factor(d$study_id, levels = unique(d$study_id))), function(s) {
    m <- nrow(s); roots <- sqrt(s$vi)
    data.frame(study_id = s$study_id[1], yi = mean(s$yi),
               vi = (sum(s$vi) + r * (sum(roots)^2 - sum(s$vi))) / m^2,
               format = s$format[1], intervention_duration = s$intervention_duration[1])
  }))
}

