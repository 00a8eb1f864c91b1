//! Reading a report folder's `summary.csv` back (`channel,metric,value,unit`): what batch tables
//! and the progress database take from an analysis.

use crate::error::InputError;
use crate::sink::report::SummaryRow;
use std::path::Path;

/// The rows of one `summary.csv`.
#[derive(Debug, Clone, Default)]
pub struct SummaryTable {
    pub rows: Vec<SummaryRow>,
}

impl SummaryTable {
    pub fn from_rows(rows: Vec<SummaryRow>) -> Self {
        SummaryTable { rows }
    }

    /// Reads `summary.csv`; a malformed line is an error naming the file and line.
    pub fn read(path: &Path) -> Result<SummaryTable, InputError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.splitn(4, ',').collect();
            if f.len() < 3 {
                return Err(InputError::Parse {
                    path: path.to_path_buf(),
                    line: i as u64 + 1,
                    message: "expected channel,metric,value,unit".into(),
                });
            }
            rows.push(SummaryRow {
                channel: f[0].to_string(),
                metric: f[1].to_string(),
                value: f[2].to_string(),
                unit: f.get(3).unwrap_or(&"").to_string(),
            });
        }
        Ok(SummaryTable { rows })
    }

    pub fn row(&self, channel: &str, metric: &str) -> Option<&SummaryRow> {
        self.rows
            .iter()
            .find(|r| r.channel == channel && r.metric == metric)
    }

    pub fn value(&self, channel: &str, metric: &str) -> Option<f64> {
        self.row(channel, metric)
            .and_then(|r| r.value.trim().parse::<f64>().ok())
    }

    pub fn unit(&self, channel: &str, metric: &str) -> Option<&str> {
        self.row(channel, metric).map(|r| r.unit.as_str())
    }

    /// Channels in order of first appearance (without `all`).
    pub fn channels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.rows {
            if r.channel != "all" && !out.contains(&r.channel.as_str()) {
                out.push(&r.channel);
            }
        }
        out
    }

    /// The channel whose contractions count as squeezes: the first with a `contractions` row,
    /// preferring pelvic-floor EMG (named `pfm_emg`) over pressure.
    pub fn primary_channel(&self) -> Option<&str> {
        self.row("pfm_emg", "contractions")
            .map(|r| r.channel.as_str())
            .or_else(|| {
                self.channels()
                    .into_iter()
                    .find(|c| self.row(c, "contractions").is_some())
            })
    }
}
