# Reference values for tests/test_survival.py: cluster-robust Cox standard errors from R's survival
# package (Debian: r-base-core, r-cran-survival), Efron and Breslow ties, with and without strata.
# Run once:  Rscript tests/test_survival_cox_cluster.R  and copy the printed numbers into the test.
suppressMessages(library(survival))
d <- read.csv("tests/data/r_reference/cox_cluster.csv")
cat(sprintf("# %d rows, %d events, %d distinct event days\n", nrow(d), sum(d$event), length(unique(d$days[d$event == 1]))))
show <- function(label, fit) {
  s <- summary(fit)$coefficients
  for (v in rownames(s)) {
    cat(sprintf('"%s/%s": (%.15g, %.15g, %.15g),\n', label, v, s[v, "coef"], s[v, "se(coef)"], s[v, "robust se"]))
  }
}
for (ties in c("efron", "breslow")) {
  show(ties, coxph(Surv(days, event) ~ x + z, data = d, ties = ties, cluster = group))
  show(paste0(ties, "_strata"), coxph(Surv(days, event) ~ x + z + strata(tier), data = d, ties = ties, cluster = group))
}
