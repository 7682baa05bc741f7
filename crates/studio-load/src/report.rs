//! Reports: latency percentiles from a histogram, and printing a report as a human summary or,
//! with `--json`, as one JSON object on stdout (the summary then goes to stderr, so scripts can
//! read stdout as is).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram records, in microseconds (one minute; slower counts as this).
const MAX_MICROS: u64 = 60_000_000;
/// Significant decimal digits kept by the histograms (0.1% error).
const SIGNIFICANT_DIGITS: u8 = 3;

/// A histogram of durations in microseconds, 1 µs to one minute.
pub fn micros_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Percentiles of a duration histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Percentiles {
    /// Summarises a histogram of microseconds; all zero when it is empty.
    pub fn from_micros(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| round3(micros as f64 / 1000.0);
        Self {
            count: histogram.len(),
            mean: round3(histogram.mean() / 1000.0),
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }

    /// `p50 1.234 ms, p90 …, p99 …, max …`.
    pub fn summary(&self) -> String {
        format!(
            "p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }
}

/// Rounds to three decimals, so JSON reports stay readable.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// A scenario's result: serializable, and with a few human lines.
pub trait Report: Serialize {
    /// The human summary, several lines.
    fn summary(&self) -> String;
}

/// Prints `report`: the summary on stdout, or with `json` the summary on stderr and the JSON
/// object alone on stdout.
pub fn print(report: &impl Report, json: bool) -> anyhow::Result<()> {
    if json {
        eprintln!("{}", report.summary());
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{}", report.summary());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let mut histogram = micros_histogram();
        for micros in 1..=1000 {
            histogram.record(micros).expect("in range");
        }
        let p = Percentiles::from_micros(&histogram);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 0.5).abs() < 0.002, "{p:?}");
        assert!((p.p99 - 0.99).abs() < 0.002, "{p:?}");
        assert!((p.max - 1.0).abs() < 0.002, "{p:?}");
        assert_eq!(Percentiles::from_micros(&micros_histogram()).count, 0);
    }
}
