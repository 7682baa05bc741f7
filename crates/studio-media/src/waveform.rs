//! A streaming builder for the BBC audiowaveform **version 2** format (mono).
//!
//! Invariants: the builder keeps only the running min/max of the current block plus the finished
//! `(min, max)` pairs, so memory grows with the output (4 bytes per block), never with the PCM.
//! Values are kept at 16 bits; the 8-bit form is the 16-bit value divided by 256 with C's
//! truncation toward zero, as audiowaveform's `WaveformBuffer::save`/`saveAsJson` do. A final
//! partial block is emitted, as audiowaveform does.

mod render;

pub use render::{DEFAULT_PNG_HEIGHT, DEFAULT_PNG_WIDTH};

use serde::Serialize;

use crate::MediaError;

/// audiowaveform's default resolution; `waveform-data` can only zoom out from it.
pub const DEFAULT_SAMPLES_PER_PIXEL: u32 = 256;
/// Format version written (v2 adds the channel count to the header).
pub const FORMAT_VERSION: i32 = 2;
/// `.dat` header size in bytes for version 2; data starts here.
pub const DAT_HEADER_LEN: usize = 24;
/// `.dat` flag bit: data is 8-bit.
const FLAG_8_BIT: u32 = 1;
/// 16-bit → 8-bit divisor used by audiowaveform.
const EIGHT_BIT_DIVISOR: i16 = 256;

/// Resolution of the written values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaveformBits {
    #[default]
    Eight,
    Sixteen,
}

impl WaveformBits {
    pub fn as_u32(self) -> u32 {
        match self {
            WaveformBits::Eight => 8,
            WaveformBits::Sixteen => 16,
        }
    }
}

/// Feed mono i16 samples (or raw s16le bytes) in chunks of any size; call [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct WaveformBuilder {
    sample_rate: u32,
    samples_per_pixel: u32,
    count: u32,
    min: i16,
    max: i16,
    /// A byte of a sample split across two chunks of s16le input.
    carry: Option<u8>,
    data: Vec<i16>,
}

impl WaveformBuilder {
    /// `samples_per_pixel` must be at least 2 (audiowaveform refuses less), `sample_rate` > 0.
    pub fn new(sample_rate: u32, samples_per_pixel: u32) -> Result<Self, MediaError> {
        if samples_per_pixel < 2 {
            return Err(MediaError::InvalidSettings(format!(
                "samples_per_pixel must be at least 2, got {samples_per_pixel}"
            )));
        }
        if sample_rate == 0 || sample_rate > i32::MAX as u32 {
            return Err(MediaError::InvalidSettings(format!(
                "invalid sample rate {sample_rate}"
            )));
        }
        Ok(WaveformBuilder {
            sample_rate,
            samples_per_pixel,
            count: 0,
            min: i16::MAX,
            max: i16::MIN,
            carry: None,
            data: Vec::new(),
        })
    }

    pub fn push_samples(&mut self, samples: &[i16]) {
        for &s in samples {
            self.push_one(s);
        }
    }

    /// Feeds little-endian signed 16-bit PCM; a chunk may end in the middle of a sample.
    pub fn push_s16le(&mut self, mut bytes: &[u8]) {
        if let Some(low) = self.carry.take() {
            let Some((&high, rest)) = bytes.split_first() else {
                self.carry = Some(low);
                return;
            };
            self.push_one(i16::from_le_bytes([low, high]));
            bytes = rest;
        }
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            self.push_one(i16::from_le_bytes([pair[0], pair[1]]));
        }
        if let [last] = pairs.remainder() {
            self.carry = Some(*last);
        }
    }

    fn push_one(&mut self, s: i16) {
        self.min = self.min.min(s);
        self.max = self.max.max(s);
        self.count += 1;
        if self.count == self.samples_per_pixel {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.data.push(self.min);
        self.data.push(self.max);
        self.count = 0;
        self.min = i16::MAX;
        self.max = i16::MIN;
    }

    /// Closes the last partial block (a dangling half sample is dropped).
    pub fn finish(mut self) -> Waveform {
        if self.count > 0 {
            self.flush();
        }
        Waveform {
            sample_rate: self.sample_rate,
            samples_per_pixel: self.samples_per_pixel,
            data: self.data,
        }
    }
}

/// A finished mono waveform: `(min, max)` pairs at 16-bit resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waveform {
    pub sample_rate: u32,
    pub samples_per_pixel: u32,
    /// `min, max, min, max, …` (16-bit).
    pub data: Vec<i16>,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    version: i32,
    channels: u32,
    sample_rate: u32,
    samples_per_pixel: u32,
    bits: u32,
    length: usize,
    data: &'a [i16],
}

impl Waveform {
    /// Number of `(min, max)` pairs.
    pub fn len(&self) -> usize {
        self.data.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values as written at `bits` (8-bit: value / 256, truncated toward zero).
    pub fn values(&self, bits: WaveformBits) -> Vec<i16> {
        match bits {
            WaveformBits::Sixteen => self.data.clone(),
            WaveformBits::Eight => self.data.iter().map(|v| v / EIGHT_BIT_DIVISOR).collect(),
        }
    }

    /// The audiowaveform JSON document.
    pub fn to_json(&self, bits: WaveformBits) -> Vec<u8> {
        let data = self.values(bits);
        let out = JsonOut {
            version: FORMAT_VERSION,
            channels: 1,
            sample_rate: self.sample_rate,
            samples_per_pixel: self.samples_per_pixel,
            bits: bits.as_u32(),
            length: self.len(),
            data: &data,
        };
        serde_json::to_vec(&out).expect("serializing integers cannot fail")
    }

    /// The binary `.dat` file (little-endian, 24-byte v2 header, then `min, max` per index).
    pub fn to_dat(&self, bits: WaveformBits) -> Vec<u8> {
        let values = self.values(bits);
        let per_value = if bits == WaveformBits::Eight { 1 } else { 2 };
        let mut out = Vec::with_capacity(DAT_HEADER_LEN + values.len() * per_value);
        let flags = if bits == WaveformBits::Eight {
            FLAG_8_BIT
        } else {
            0
        };
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        // Both fit in i32: checked in `WaveformBuilder::new`.
        out.extend_from_slice(&(self.sample_rate as i32).to_le_bytes());
        out.extend_from_slice(&(self.samples_per_pixel as i32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        out.extend_from_slice(&1i32.to_le_bytes());
        for v in values {
            match bits {
                // |v / 256| ≤ 128 and -32768 / 256 = -128: always fits in i8.
                WaveformBits::Eight => out.push((v as i8) as u8),
                WaveformBits::Sixteen => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
        out
    }

    /// A PNG image of the peaks, one vertical line per column.
    pub fn to_png(&self, width: u32, height: u32) -> Result<Vec<u8>, MediaError> {
        render::render_png(self, width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn blocks_and_partial_tail() {
        let mut b = WaveformBuilder::new(48000, 4).unwrap();
        b.push_samples(&[1, -2, 3, 0, 5]);
        b.push_samples(&[-7]);
        let w = b.finish();
        assert_eq!(w.data, vec![-2, 3, -7, 5]);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn eight_bit_truncates_toward_zero_like_audiowaveform() {
        let w = Waveform {
            sample_rate: 8000,
            samples_per_pixel: 2,
            data: vec![-32768, 32767, -255, 255, -256, 256, -1, 1],
        };
        assert_eq!(
            w.values(WaveformBits::Eight),
            vec![-128, 127, 0, 0, -1, 1, 0, 0]
        );
    }

    #[test]
    fn dat_header_and_body() {
        let w = Waveform {
            sample_rate: 48000,
            samples_per_pixel: 256,
            data: vec![-512, 1024],
        };
        let dat = w.to_dat(WaveformBits::Eight);
        assert_eq!(&dat[0..4], &2i32.to_le_bytes());
        assert_eq!(&dat[4..8], &1u32.to_le_bytes());
        assert_eq!(&dat[8..12], &48000i32.to_le_bytes());
        assert_eq!(&dat[12..16], &256i32.to_le_bytes());
        assert_eq!(&dat[16..20], &1u32.to_le_bytes());
        assert_eq!(&dat[20..24], &1i32.to_le_bytes());
        assert_eq!(&dat[24..], &[(-2i8) as u8, 4]);
        let dat16 = w.to_dat(WaveformBits::Sixteen);
        assert_eq!(&dat16[4..8], &0u32.to_le_bytes());
        assert_eq!(&dat16[24..], &[0x00, 0xfe, 0x00, 0x04]);
    }

    #[test]
    fn json_document() {
        let w = Waveform {
            sample_rate: 48000,
            samples_per_pixel: 256,
            data: vec![-512, 1024],
        };
        let v: serde_json::Value = serde_json::from_slice(&w.to_json(WaveformBits::Eight)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version":2,"channels":1,"sample_rate":48000,
                "samples_per_pixel":256,"bits":8,"length":1,"data":[-2,4]})
        );
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(WaveformBuilder::new(48000, 1).is_err());
        assert!(WaveformBuilder::new(0, 256).is_err());
    }

    fn reference(samples: &[i16], spp: usize) -> Vec<i16> {
        samples
            .chunks(spp)
            .flat_map(|c| [*c.iter().min().unwrap(), *c.iter().max().unwrap()])
            .collect()
    }

    proptest! {
        #[test]
        fn any_chunking_matches_the_reference(
            samples in proptest::collection::vec(any::<i16>(), 0..2000),
            spp in 2u32..300,
            cuts in proptest::collection::vec(0usize..4000, 0..8),
        ) {
            let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut b = WaveformBuilder::new(44100, spp).unwrap();
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                b.push_s16le(&bytes[start..cut]);
                start = cut;
            }
            let w = b.finish();
            prop_assert_eq!(w.data, reference(&samples, spp as usize));
        }

        #[test]
        fn formats_agree_on_length(data in proptest::collection::vec(any::<i16>(), 0..200)) {
            let mut data = data;
            if data.len() % 2 == 1 { data.pop(); }
            let w = Waveform { sample_rate: 48000, samples_per_pixel: 256, data };
            for bits in [WaveformBits::Eight, WaveformBits::Sixteen] {
                let per = if bits == WaveformBits::Eight { 1 } else { 2 };
                prop_assert_eq!(w.to_dat(bits).len(), DAT_HEADER_LEN + w.data.len() * per);
                let v: serde_json::Value = serde_json::from_slice(&w.to_json(bits)).unwrap();
                prop_assert_eq!(v["data"].as_array().unwrap().len(), w.len() * 2);
            }
        }
    }
}
