# Load knip's outputs in base R (no packages): the recording CSV, the report tables, and the
# EDF+/BDF+ export with a small reader written against the EDF+ specification.
# Run from a folder holding session.csv, session.edf, session.bdf and report/:
#   Rscript load_knip.R

rec <- read.csv("session.csv")
# A slower channel's cells are empty (NA) where it has no sample.
pressure <- rec$pressure[!is.na(rec$pressure)]
cat(sprintf("csv: %d rows, pfm_emg n=%d, pressure n=%d\n", nrow(rec),
            sum(!is.na(rec$pfm_emg)), length(pressure)))

con <- read.csv("report/contractions.csv")
print(aggregate(duration_s ~ channel, data = con, FUN = function(x) round(c(n = length(x), mean = mean(x)), 3)))

read_edf <- function(path) {
  f <- file(path, "rb"); on.exit(close(f))
  fixed <- readBin(f, "raw", 256)
  txt <- function(r) trimws(rawToChar(r[r != as.raw(0)]))
  bdf <- fixed[1] == as.raw(0xFF)
  ns <- as.integer(txt(fixed[253:256]))
  nrec <- as.integer(txt(fixed[237:244]))
  dur <- as.numeric(txt(fixed[245:252]))
  sig <- readBin(f, "raw", 256 * ns)
  at <- 0
  field <- function(w) { v <- sapply(seq_len(ns), function(i) txt(sig[at + (i - 1) * w + 1:w])); at <<- at + w * ns; v }
  label <- field(16); field(80); unit <- field(8)
  pmin <- as.numeric(field(8)); pmax <- as.numeric(field(8))
  dmin <- as.numeric(field(8)); dmax <- as.numeric(field(8)); field(80)
  spr <- as.integer(field(8))
  bps <- if (bdf) 3 else 2
  raw <- readBin(f, "raw", nrec * sum(spr) * bps)
  bytes <- matrix(raw, nrow = sum(spr) * bps)          # one column per data record
  starts <- c(0, cumsum(spr * bps))
  out <- list(); ann <- character(0)
  for (i in seq_len(ns)) {
    b <- bytes[(starts[i] + 1):starts[i + 1], , drop = FALSE]
    if (label[i] %in% c("EDF Annotations", "BDF Annotations")) {
      ann <- c(ann, unlist(lapply(seq_len(ncol(b)), function(k) {
        tals <- strsplit(rawToChar(b[b[, k] != as.raw(0), k]), "\x14\x14|\x14", useBytes = TRUE)[[1]]
        tals[nchar(tals) > 0]
      })))
      next
    }
    u <- matrix(as.integer(b), nrow = bps)
    d <- if (bdf) u[1, ] + 256 * u[2, ] + 65536 * u[3, ] else u[1, ] + 256 * u[2, ]
    d <- ifelse(d >= 2^(8 * bps - 1), d - 2^(8 * bps), d)  # two's complement
    out[[label[i]]] <- pmin[i] + (d - dmin[i]) * (pmax[i] - pmin[i]) / (dmax[i] - dmin[i])
    attr(out[[label[i]]], "rate_hz") <- spr[i] / dur
    attr(out[[label[i]]], "unit") <- unit[i]
  }
  list(signals = out, annotations = ann)
}

for (path in c("session.edf", "session.bdf")) {
  e <- read_edf(path)
  for (n in names(e$signals)) {
    s <- e$signals[[n]]
    cat(sprintf("%s: %-8s %6.0f Hz %-6s n=%d mean=%.3f\n", path, n, attr(s, "rate_hz"),
                attr(s, "unit"), length(s), mean(s)))
  }
  squeezes <- grep("^contraction pfm_emg", e$annotations, value = TRUE)
  cat(sprintf("%s: %d annotation texts, %d pelvic-floor contractions\n", path,
              length(e$annotations), length(squeezes)))
}
