# The README's escalc examples: two of metafor's example data sets (metadat package) written as
# CSVs with metafor's argument names as columns and the source of every row.
#   Rscript scripts/make_escalc_examples.R
suppressPackageStartupMessages(library(metadat))
version <- as.character(packageVersion("metadat"))

bcg <- with(dat.bcg, data.frame(trial, author, year, ai = tpos, bi = tneg, ci = cpos, di = cneg, ablat, alloc,
  source = sprintf(paste0("metadat %s dat.bcg row %d (Colditz et al. 1994, JAMA 271(9):698-702, ",
                          "doi:10.1001/jama.1994.03510330076038): tpos, tneg, cpos, cneg, ablat, alloc"),
                   version, trial)))
write.csv(bcg, "studies/examples/bcg_counts.csv", row.names = FALSE)

molloy <- with(dat.molloy2014, data.frame(authors, year, ri, ni,
  source = sprintf(paste0("metadat %s dat.molloy2014 row %d (Molloy, O'Carroll & Ferguson 2014, ",
                          "Ann Behav Med 47(1):92-101, doi:10.1007/s12160-013-9524-4): ri, ni"),
                   version, seq_along(ri))))
write.csv(molloy, "studies/examples/molloy2014_correlations.csv", row.names = FALSE)
