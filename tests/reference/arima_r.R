# Reference output for evallib's `model: arima` (regression with ARMA errors).
#
# Run from the repository root:
#   Rscript tests/reference/arima_r.R
# It writes tests/reference/arima_r_data.csv (once: an existing file is read, not
# regenerated) and tests/reference/arima_r.json (R's coefficients, standard errors,
# log-likelihood and sigma2 for each order). Only base R (package stats) is used.
#
# The design is evallib's ITS time coding (DESIGN.md section 3) for 96 monthly points
# with one interruption at the 61st month (2020-01 .. 2027-12, interruption 2025-01):
#   time  = 0, 1, ..., 95                (pre_trend)
#   level = 1 from the interruption on   (level_change)
#   slope = time - 60 from it on, else 0 (slope_change)
# and R's own intercept (include.mean = TRUE), which is evallib's intercept column.

out_dir <- file.path("tests", "reference")
data_file <- file.path(out_dir, "arima_r_data.csv")
json_file <- file.path(out_dir, "arima_r.json")

if (!file.exists(data_file)) {
  n <- 96
  p <- 60                                   # 0-based position of the interruption
  time <- 0:(n - 1)
  level <- as.numeric(time >= p)
  slope <- ifelse(time >= p, time - p, 0)
  set.seed(20250101)
  e <- as.numeric(arima.sim(list(ar = 0.55, ma = 0.35), n = n, sd = 1.5))
  y <- round(50 + 0.25 * time - 6 * level + 0.4 * slope + e, 3)
  period <- format(seq(as.Date("2020-01-01"), by = "month", length.out = n), "%Y-%m")
  write.csv(data.frame(period = period, y = sprintf("%.3f", y), time = time, level = level, slope = slope),
            data_file, row.names = FALSE, quote = FALSE)
}

d <- read.csv(data_file, colClasses = c(period = "character"))
xreg <- as.matrix(d[, c("time", "level", "slope")])

num <- function(x) sprintf("%.12g", x)
vec <- function(x) paste0("{", paste0('"', names(x), '": ', num(x), collapse = ", "), "}")

orders <- list(c(1, 0, 0), c(2, 0, 0), c(1, 0, 1))
fits <- character(0)
for (ord in orders) {
  fit <- arima(d$y, order = ord, xreg = xreg, include.mean = TRUE, method = "ML")
  est <- coef(fit)
  se <- sqrt(diag(vcov(fit)))
  names(se) <- names(est)
  fits <- c(fits, paste0(
    '    {"order": [', paste(ord, collapse = ", "), '], ',
    '"convergence_code": ', fit$code, ', ',
    '"loglik": ', num(fit$loglik), ', "sigma2": ', num(fit$sigma2), ',\n',
    '     "coef": ', vec(est), ',\n',
    '     "se": ', vec(se), '}'))
}

json <- paste0(
  '{\n',
  '  "r_version": "', R.version.string, '",\n',
  '  "command": "arima(y, order = c(p, 0, q), xreg = cbind(time, level, slope), include.mean = TRUE, method = \\"ML\\")",\n',
  '  "data": "arima_r_data.csv",\n',
  '  "fits": [\n', paste(fits, collapse = ",\n"), '\n  ]\n',
  '}\n')
writeLines(json, json_file, sep = "")
cat(json)
