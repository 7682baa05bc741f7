//! PNG rendering of a [`Waveform`]: each image column takes the lowest min and highest max of
//! the blocks that fall into it and draws a vertical line between them.

use crate::{MediaError, Waveform};

/// Default image size (audiowaveform's wide-strip look).
pub const DEFAULT_PNG_WIDTH: u32 = 1800;
pub const DEFAULT_PNG_HEIGHT: u32 = 140;
const BACKGROUND: [u8; 3] = [0xff, 0xff, 0xff];
const WAVE: [u8; 3] = [0x3a, 0x6e, 0xd8];
/// Channels per pixel (RGB).
const RGB: usize = 3;

pub(super) fn render_png(w: &Waveform, width: u32, height: u32) -> Result<Vec<u8>, MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::InvalidSettings(format!(
            "png size must be positive, got {width}x{height}"
        )));
    }
    let (wi, hi) = (width as usize, height as usize);
    let mut pixels = vec![0u8; wi * hi * RGB];
    for px in pixels.chunks_exact_mut(RGB) {
        px.copy_from_slice(&BACKGROUND);
    }
    let len = w.len();
    let to_row = |v: i16| -> usize {
        // +32768 maps to the top row, -32768 to the bottom row.
        let unit = (f64::from(v) + 32768.0) / 65535.0;
        let row = ((1.0 - unit) * (hi - 1) as f64).round() as usize;
        row.min(hi - 1)
    };
    if len > 0 {
        for x in 0..wi {
            let first = x * len / wi;
            let last = ((x + 1) * len / wi).max(first + 1).min(len);
            let (mut lo, mut hi_v) = (i16::MAX, i16::MIN);
            for i in first..last {
                lo = lo.min(w.data[2 * i]);
                hi_v = hi_v.max(w.data[2 * i + 1]);
            }
            for y in to_row(hi_v)..=to_row(lo) {
                let at = (y * wi + x) * RGB;
                pixels[at..at + RGB].copy_from_slice(&WAVE);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_decodable_png_with_peaks() {
        let w = Waveform {
            sample_rate: 48000,
            samples_per_pixel: 256,
            data: vec![-32768, 32767, 0, 0],
        };
        let bytes = w.to_png(4, 10).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (4, 10));
        let px = |x: usize, y: usize| &buf[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        // Column 0 (loud) is filled top to bottom; column 3 (silence) only in the middle.
        assert_eq!(px(0, 0), WAVE);
        assert_eq!(px(0, 9), WAVE);
        assert_eq!(px(3, 0), BACKGROUND);
        assert_eq!(px(3, 9), BACKGROUND);
    }

    #[test]
    fn zero_size_is_rejected() {
        let w = Waveform {
            sample_rate: 1,
            samples_per_pixel: 2,
            data: vec![],
        };
        assert!(w.to_png(0, 10).is_err());
        assert!(w.to_png(DEFAULT_PNG_WIDTH, DEFAULT_PNG_HEIGHT).is_ok());
    }
}
