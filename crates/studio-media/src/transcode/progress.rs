//! Parsing ffmpeg's `-progress` blocks out of a stderr that also carries error lines.
//!
//! A block is `key=value` lines ending in `progress=continue|end`. On ffmpeg 5.1 `out_time_ms`
//! also holds microseconds, so only `out_time_us` is read.

/// What one stderr line was.
#[derive(Debug, PartialEq)]
pub(crate) enum Line {
    /// The end of a block: the latest `out_time_us`, if any.
    BlockEnd { out_time_us: Option<u64>, end: bool },
    /// Any other `key=value` progress line.
    Key,
    /// Not a progress line: a log/error line worth keeping.
    Other,
}

#[derive(Debug, Default)]
pub(crate) struct ProgressParser {
    out_time_us: Option<u64>,
}

impl ProgressParser {
    pub fn feed(&mut self, line: &str) -> Line {
        let line = line.trim_end();
        let Some((key, value)) = line.split_once('=') else {
            return Line::Other;
        };
        let is_key = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !is_key {
            return Line::Other;
        }
        match key {
            // Negative before the first frame on some inputs ("-9223372036854775807"): ignore.
            "out_time_us" => {
                if let Ok(us) = value.trim().parse::<u64>() {
                    self.out_time_us = Some(us);
                }
                Line::Key
            }
            "progress" => Line::BlockEnd {
                out_time_us: self.out_time_us,
                end: value.trim() == "end",
            },
            _ => Line::Key,
        }
    }
}

/// Fraction of `duration_secs` done, clamped to `[0, 1]`; `None` without a known duration.
pub(crate) fn fraction(out_time_us: u64, duration_secs: f64) -> Option<f64> {
    (duration_secs > 0.0).then(|| (out_time_us as f64 / 1e6 / duration_secs).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_and_keeps_error_lines_apart() {
        let mut p = ProgressParser::default();
        let stderr = "frame=10\nfps=0.0\nout_time_us=500000\nout_time_ms=500000\nout_time=00:00:00.500000\n\
            speed=   1x\nprogress=continue\n[h264 @ 0x55] error while decoding MB 3 4\n\
            out_time_us=N/A\nprogress=end\n";
        let got: Vec<Line> = stderr.lines().map(|l| p.feed(l)).collect();
        assert_eq!(got[5], Line::Key);
        assert_eq!(
            got[6],
            Line::BlockEnd {
                out_time_us: Some(500_000),
                end: false
            }
        );
        assert_eq!(got[7], Line::Other);
        assert_eq!(
            got[9],
            Line::BlockEnd {
                out_time_us: Some(500_000),
                end: true
            }
        );
        assert_eq!(
            p.feed("Error opening input: Invalid data found"),
            Line::Other
        );
        assert_eq!(p.feed("Stream mapping: a=b"), Line::Other);
    }

    #[test]
    fn fractions() {
        assert_eq!(fraction(1_000_000, 4.0), Some(0.25));
        assert_eq!(fraction(9_000_000, 4.0), Some(1.0));
        assert_eq!(fraction(1, 0.0), None);
    }
}
