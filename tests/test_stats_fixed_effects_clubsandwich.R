# Reference values for tests/test_stats_fixed_effects.py: CR2 standard errors and
# Satterthwaite (Bell-McCaffrey) degrees of freedom from clubSandwich, for regressions whose
# fixed effects groupstats absorbs. Run once (Debian: r-base-core, r-cran-clubsandwich):
#   Rscript tests/test_stats_fixed_effects_clubsandwich.R
# and copy the printed numbers into the test. The test does not need R.
suppressMessages(library(clubSandwich))
d <- read.csv("tests/data/r_reference/fe_cr2.csv")
d$arm <- factor(d$arm, levels = c("A", "B", "C"))
d$group <- factor(d$group); d$week <- factor(d$week); d$region <- factor(d$region)
d$row <- factor(seq_len(nrow(d)))
show <- function(label, fit, cluster, terms = c("armB", "armC"), ...) {
  ct <- coef_test(fit, vcov = vcovCR(fit, cluster = cluster, type = "CR2", ...), test = "Satterthwaite")
  ct <- ct[ct$Coef %in% terms, ]
  for (i in seq_len(nrow(ct))) {
    cat(sprintf('"%s/%s": (%.15g, %.15g, %.15g),\n', label, ct$Coef[i], ct$beta[i], ct$SE[i], ct$df_Satt[i]))
  }
}
# 1. switchback: group and week fixed effects, covariate, clustered by group (group nested, week crossing)
show("ols_group_week", lm(y ~ arm + pre + group + week, data = d), d$group)
# 2. the same, weighted least squares; groupstats' weights (ratio denominators) are inverse-variance
#    weights, so its CR2 is the one for the whitened model: clubSandwich's inverse_var = TRUE
show("wls_group_week", lm(y ~ arm + pre + group + week, data = d, weights = w), d$group, inverse_var = TRUE)
# 3. week fixed effects only (crossing the clusters)
show("ols_week", lm(y ~ arm + pre + week, data = d), d$group)
# 4. clusters coarser than the groups (group fixed effects nested in regions), week crossing
show("ols_region", lm(y ~ arm + pre + group + week, data = d), d$region)
# 5. one row per cluster (HC2) with week fixed effects
show("hc2_week", lm(y ~ arm + pre + week, data = d), d$row)
# 6. Poisson with group and week fixed effects, clustered by group
show("poisson_group_week", glm(replies ~ arm + pre + group + week, data = d, family = poisson()), d$group)
# 7. Poisson without fixed effects, clustered by group
show("poisson_plain", glm(replies ~ arm + pre, data = d, family = poisson()), d$group)
