//! `studio-load ai`: the latency the AI backend-for-frontend adds to a streamed answer.
//!
//! The tool starts a fake OpenAI-compatible provider ([`fake`]) on `--fake-addr`; studio must
//! have been started with `STUDIO_AI_OPENAI_BASE_URL=http://<fake-addr>/v1` (and a model in
//! `STUDIO_AI_OPENAI_MODELS`). It then sends requests one at a time and times, from just before
//! each request is sent:
//!
//! - **TTFT**: until the first text token arrives (the first non-empty
//!   `choices[0].delta.content` from the provider; the first `text-delta` chunk from studio);
//! - **total**: until the end of the stream (`data: [DONE]`).
//!
//! Three series: **direct** (the fake called as studio calls it: the baseline), **studio miss**
//! (`POST /api/ai/chat` with a prompt never asked before, so studio calls the fake and relays
//! its stream) and **studio hit** (each of those prompts again: the answer comes from studio's
//! cache and the fake is not called). Direct and miss requests alternate, so drift on a shared
//! machine affects both alike; the hits follow. Studio's `x-cache` header is checked on every
//! answer (MISS, then HIT), the text against the fake's, and the fake's request count across
//! the hits (it must not move).
//!
//! Without `--url` only the direct baseline is measured.

pub mod fake;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use self::fake::{FakeAnswer, FakeProvider};
use crate::report::{self, Percentiles, micros_histogram, round3};

/// One latency run.
#[derive(Debug, Clone)]
pub struct AiRun {
    /// Studio's base URL (`http://host:port`); `None` measures the direct baseline only.
    pub url: Option<String>,
    /// Bearer token for studio.
    pub token: Option<String>,
    /// Where the fake provider listens (studio's `ai_openai_base_url` is `http://<this>/v1`).
    pub fake_addr: SocketAddr,
    /// Measured requests per series.
    pub requests: usize,
    /// Unmeasured requests of each kind first.
    pub warmup: usize,
    /// Text tokens per answer.
    pub tokens: usize,
    /// The fake's wait before its first token.
    pub first_token_delay: Duration,
    /// The fake's wait before each later token.
    pub token_delay: Duration,
    /// Deadline per request.
    pub timeout: Duration,
}

/// TTFT and total-time percentiles of one series.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Series {
    pub ttft: Percentiles,
    pub total: Percentiles,
}

/// The numbers of a run.
#[derive(Debug, Clone, Serialize)]
pub struct AiReport {
    pub requests: usize,
    pub tokens: usize,
    pub first_token_delay_ms: f64,
    pub token_delay_ms: f64,
    /// The fake provider called directly.
    pub direct: Series,
    /// Through studio, prompts never asked before.
    pub studio_miss: Option<Series>,
    /// Through studio, the same prompts again.
    pub studio_hit: Option<Series>,
    /// Studio miss TTFT minus direct TTFT, at p50 / p90 / p99 (ms).
    pub added_ttft_ms: Option<[f64; 3]>,
    /// Answers whose `x-cache` was not the expected MISS or HIT.
    pub unexpected_cache_status: u64,
    /// Provider calls made while the hits ran (should be 0).
    pub provider_calls_during_hits: u64,
}

/// Which wire format a response body speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// OpenAI Chat Completions chunks.
    OpenAi,
    /// The AI SDK UI message stream.
    UiMessages,
}

/// One timed request.
#[derive(Debug)]
struct Timed {
    ttft: Duration,
    total: Duration,
    text: String,
    cache: Option<String>,
}

/// Runs the benchmark.
pub async fn run(run: AiRun) -> anyhow::Result<AiReport> {
    if run.requests == 0 {
        bail!("--requests must be at least 1");
    }
    if run.url.is_some() && run.fake_addr.port() == 0 {
        bail!("with --url, give --fake-addr the fixed address studio's ai_openai_base_url names");
    }
    let answer = FakeAnswer {
        first_token_delay: run.first_token_delay,
        token_delay: run.token_delay,
        ..FakeAnswer::numbered(run.tokens.max(1))
    };
    let expected = answer.text();
    let fake = FakeProvider::start(run.fake_addr, answer).await?;
    // Connections are pooled as a browser would (studio is one origin); the fake closes each.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(run.timeout)
        .build()?;
    let run_id = format!("{:016x}", rand::random::<u64>());
    let prompt =
        |kind: &str, i: usize| format!("studio-load ai {run_id} {kind} {i}: say something");
    let direct_url = format!("{}/chat/completions", fake.base_url());
    let direct = |text: String| {
        let body = json!({
            "model": "bench-model",
            "messages": [{"role": "user", "content": text}],
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        timed(client.post(&direct_url).json(&body), Wire::OpenAi)
    };
    let studio_url = run
        .url
        .as_deref()
        .map(|url| format!("{}/api/ai/chat", url.trim_end_matches('/')));
    let studio = |text: String| {
        let url = studio_url.as_deref().unwrap_or_default();
        // What `useChat` posts.
        let body = json!({
            "id": format!("bench-{run_id}"),
            "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}],
            "trigger": "submit-message",
        });
        let mut request = client.post(url).json(&body);
        if let Some(token) = &run.token {
            request = request.bearer_auth(token);
        }
        timed(request, Wire::UiMessages)
    };
    let check_text = |what: &str, timed: &Timed| -> anyhow::Result<()> {
        if timed.text != expected {
            bail!(
                "{what}: the answer's text differs from the fake's ({:?} instead of {:?})",
                timed.text,
                expected
            );
        }
        Ok(())
    };

    let mut unexpected_cache_status = 0;
    let mut cache_check = |timed: &Timed, want: &str| {
        if timed.cache.as_deref() != Some(want) {
            unexpected_cache_status += 1;
        }
    };

    for i in 0..run.warmup {
        check_text("direct", &direct(prompt("warmup", i)).await?)?;
        if studio_url.is_some() {
            check_text("studio", &studio(prompt("warmup", i)).await?)?;
            check_text("studio", &studio(prompt("warmup", i)).await?)?;
        }
    }

    let mut direct_hist = (micros_histogram(), micros_histogram());
    let mut miss_hist = (micros_histogram(), micros_histogram());
    let mut hit_hist = (micros_histogram(), micros_histogram());
    for i in 0..run.requests {
        let timed = direct(prompt("measured", i)).await?;
        check_text("direct", &timed)?;
        record(&mut direct_hist, &timed);
        if studio_url.is_some() {
            let timed = studio(prompt("measured", i)).await?;
            check_text("studio (miss)", &timed)?;
            cache_check(&timed, "MISS");
            record(&mut miss_hist, &timed);
        }
    }
    let mut provider_calls_during_hits = 0;
    if studio_url.is_some() {
        let before = fake.requests();
        for i in 0..run.requests {
            let timed = studio(prompt("measured", i)).await?;
            check_text("studio (hit)", &timed)?;
            cache_check(&timed, "HIT");
            record(&mut hit_hist, &timed);
        }
        provider_calls_during_hits = fake.requests() - before;
    }

    let series = |(ttft, total): &(Histogram<u64>, Histogram<u64>)| Series {
        ttft: Percentiles::from_micros(ttft),
        total: Percentiles::from_micros(total),
    };
    let direct = series(&direct_hist);
    let (studio_miss, studio_hit) = if studio_url.is_some() {
        (Some(series(&miss_hist)), Some(series(&hit_hist)))
    } else {
        (None, None)
    };
    let added_ttft_ms = studio_miss.map(|miss| {
        [
            round3(miss.ttft.p50 - direct.ttft.p50),
            round3(miss.ttft.p90 - direct.ttft.p90),
            round3(miss.ttft.p99 - direct.ttft.p99),
        ]
    });
    Ok(AiReport {
        requests: run.requests,
        tokens: run.tokens.max(1),
        first_token_delay_ms: round3(run.first_token_delay.as_secs_f64() * 1000.0),
        token_delay_ms: round3(run.token_delay.as_secs_f64() * 1000.0),
        direct,
        studio_miss,
        studio_hit,
        added_ttft_ms,
        unexpected_cache_status,
        provider_calls_during_hits,
    })
}

fn record(histograms: &mut (Histogram<u64>, Histogram<u64>), timed: &Timed) {
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    histograms.0.saturating_record(micros(timed.ttft));
    histograms.1.saturating_record(micros(timed.total));
}

/// Sends `request` and reads its SSE body to the end: when the first token came, when the
/// stream ended, the text, and the `x-cache` header.
async fn timed(request: reqwest::RequestBuilder, wire: Wire) -> anyhow::Result<Timed> {
    let start = Instant::now();
    let response = request.send().await.context("request failed")?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("answered {status}: {body}");
    }
    let cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut text = String::new();
    let mut ttft = None;
    while let Some(bytes) = body.next().await {
        buffer.extend_from_slice(&bytes.context("the body failed")?);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buffer.drain(..end + 2).collect();
            let event = std::str::from_utf8(&event).context("the stream is not UTF-8")?;
            match parse_event(wire, event)? {
                Event::Text(delta) => {
                    if ttft.is_none() && !delta.is_empty() {
                        ttft = Some(start.elapsed());
                    }
                    text.push_str(&delta);
                }
                Event::Done => {
                    let total = start.elapsed();
                    let ttft = ttft.context("the stream ended without text")?;
                    return Ok(Timed {
                        ttft,
                        total,
                        text,
                        cache,
                    });
                }
                Event::Error(message) => bail!("the stream ended with an error: {message}"),
                Event::Other => {}
            }
        }
    }
    bail!("the stream ended without [DONE]")
}

#[derive(Debug, PartialEq)]
enum Event {
    Text(String),
    Done,
    Error(String),
    Other,
}

/// Reads one SSE event (with its blank line) of `wire`.
fn parse_event(wire: Wire, event: &str) -> anyhow::Result<Event> {
    let data: Vec<&str> = event
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| data.strip_prefix(' ').unwrap_or(data))
        .collect();
    if data.is_empty() {
        return Ok(Event::Other); // a comment (keep-alive)
    }
    let data = data.join("\n");
    if data == "[DONE]" {
        return Ok(Event::Done);
    }
    let chunk: Value = serde_json::from_str(&data).with_context(|| format!("not JSON: {data}"))?;
    Ok(match wire {
        Wire::OpenAi => {
            if let Some(error) = chunk.get("error") {
                Event::Error(error.to_string())
            } else {
                match chunk["choices"][0]["delta"]["content"].as_str() {
                    Some(text) => Event::Text(text.to_owned()),
                    None => Event::Other,
                }
            }
        }
        Wire::UiMessages => match chunk["type"].as_str() {
            Some("text-delta") => Event::Text(chunk["delta"].as_str().unwrap_or("").to_owned()),
            Some("error") => Event::Error(chunk["errorText"].as_str().unwrap_or("").to_owned()),
            _ => Event::Other,
        },
    })
}

fn line(name: &str, series: &Series) -> String {
    let p = |p: &Percentiles| format!("p50 {:.3} / p90 {:.3} / p99 {:.3}", p.p50, p.p90, p.p99);
    format!(
        "{name:<20} TTFT {} ms; total {} ms",
        p(&series.ttft),
        p(&series.total)
    )
}

impl report::Report for AiReport {
    fn summary(&self) -> String {
        let mut out = vec![format!(
            "{} requests per series, {} tokens per answer (fake: first token after {} ms, then every {} ms)",
            self.requests, self.tokens, self.first_token_delay_ms, self.token_delay_ms
        )];
        out.push(line("direct (fake)", &self.direct));
        if let Some(miss) = &self.studio_miss {
            out.push(line("studio, cache miss", miss));
        }
        if let Some(hit) = &self.studio_hit {
            out.push(line("studio, cache hit", hit));
        }
        if let Some([p50, p90, p99]) = self.added_ttft_ms {
            out.push(format!(
                "added TTFT (miss − direct): p50 {p50:.3} / p90 {p90:.3} / p99 {p99:.3} ms"
            ));
        }
        if self.studio_miss.is_some() {
            out.push(format!(
                "unexpected x-cache: {}; provider calls during the hits: {}",
                self.unexpected_cache_status, self.provider_calls_during_hits
            ));
        }
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_wire_formats() {
        let openai = r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
        assert_eq!(
            parse_event(Wire::OpenAi, openai).unwrap(),
            Event::Text("Hi".into())
        );
        let usage = r#"data: {"choices":[],"usage":{"prompt_tokens":1}}"#;
        assert_eq!(parse_event(Wire::OpenAi, usage).unwrap(), Event::Other);
        assert_eq!(
            parse_event(Wire::OpenAi, "data: [DONE]\n\n").unwrap(),
            Event::Done
        );
        let delta = r#"data: {"type":"text-delta","id":"t","delta":"lo"}"#;
        assert_eq!(
            parse_event(Wire::UiMessages, delta).unwrap(),
            Event::Text("lo".into())
        );
        let error = r#"data: {"type":"error","errorText":"boom"}"#;
        assert_eq!(
            parse_event(Wire::UiMessages, error).unwrap(),
            Event::Error("boom".into())
        );
        assert_eq!(
            parse_event(Wire::UiMessages, ": keep-alive\n\n").unwrap(),
            Event::Other
        );
    }

    /// The direct baseline end to end against the fake (no studio needed).
    #[tokio::test]
    async fn measures_the_fake_directly() {
        let report = run(AiRun {
            url: None,
            token: None,
            fake_addr: "127.0.0.1:0".parse().unwrap(),
            requests: 3,
            warmup: 1,
            tokens: 5,
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
            timeout: Duration::from_secs(10),
        })
        .await
        .expect("runs");
        assert_eq!(report.direct.ttft.count, 3);
        assert_eq!(report.direct.total.count, 3);
        assert!(report.studio_miss.is_none() && report.added_ttft_ms.is_none());
    }
}
