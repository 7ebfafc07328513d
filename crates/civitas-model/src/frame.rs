//! Decoded frames: packed 8-bit RGB, row-major, no padding.

use civitas_base::{Error, Result};

/// An owned RGB image, 3 bytes per pixel, rows packed.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width_px: u32,
    pub height_px: u32,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width_px, self.height_px)
    }
}

impl RgbImage {
    pub fn new(width_px: u32, height_px: u32, data: Vec<u8>) -> Result<Self> {
        let want = width_px as usize * height_px as usize * 3;
        if data.len() != want || width_px == 0 || height_px == 0 {
            return Err(Error::invalid(format!(
                "RGB image {width_px}x{height_px} needs {want} bytes, got {}",
                data.len()
            )));
        }
        Ok(RgbImage {
            width_px,
            height_px,
            data,
        })
    }

    pub fn zeros(width_px: u32, height_px: u32) -> Self {
        RgbImage {
            width_px,
            height_px,
            data: vec![0; width_px as usize * height_px as usize * 3],
        }
    }

    #[inline]
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width_px as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Whether the picture has no colour to speak of: a night or infrared
    /// camera's frame, or an old black-and-white photograph. Samples a grid
    /// of up to 64 × 64 pixels; a pixel is coloured when two of its channels
    /// differ by more than 16 (what video compression leaves of a gray
    /// picture's chroma is well under that), and the picture is gray when
    /// at most 1 in 100 sampled pixels is coloured.
    pub fn is_grayscale(&self) -> bool {
        let (w, h) = (self.width_px as usize, self.height_px as usize);
        let (sx, sy) = (w.div_ceil(64).max(1), h.div_ceil(64).max(1));
        let (mut seen, mut coloured) = (0usize, 0usize);
        for y in (0..h).step_by(sy) {
            for x in (0..w).step_by(sx) {
                let i = (y * w + x) * 3;
                let [r, g, b] = [self.data[i], self.data[i + 1], self.data[i + 2]];
                let spread = r.max(g).max(b) - r.min(g).min(b);
                seen += 1;
                coloured += usize::from(spread > 16);
            }
        }
        coloured * 100 <= seen
    }

    /// Copies a rectangle (clamped to the image). Returns `None` if it is empty.
    pub fn crop(&self, x0: i64, y0: i64, w: i64, h: i64) -> Option<RgbImage> {
        let x1 = (x0 + w).min(self.width_px as i64);
        let y1 = (y0 + h).min(self.height_px as i64);
        let x0 = x0.max(0);
        let y0 = y0.max(0);
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let (cw, ch) = ((x1 - x0) as usize, (y1 - y0) as usize);
        let mut data = Vec::with_capacity(cw * ch * 3);
        for y in y0 as usize..y1 as usize {
            let start = (y * self.width_px as usize + x0 as usize) * 3;
            data.extend_from_slice(&self.data[start..start + cw * 3]);
        }
        Some(RgbImage {
            width_px: cw as u32,
            height_px: ch as u32,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_pictures_are_told_from_coloured_ones() {
        let gray = |v: u8| [v, v.saturating_add(3), v];
        let mut data = Vec::new();
        for i in 0..100 * 80 {
            data.extend(gray((i % 251) as u8));
        }
        let mut img = RgbImage::new(100, 80, data).unwrap();
        assert!(img.is_grayscale(), "near-gray noise is gray");
        // A red patch over a tenth of the picture makes it a colour picture.
        for y in 0..80 {
            for x in 0..10 {
                let i = (y * 100 + x) * 3;
                img.data[i..i + 3].copy_from_slice(&[200, 40, 40]);
            }
        }
        assert!(!img.is_grayscale());
    }

    #[test]
    fn wrong_size_is_rejected_with_dimensions() {
        let e = RgbImage::new(2, 2, vec![0; 11]).unwrap_err();
        assert!(e.message().contains("2x2 needs 12 bytes, got 11"));
    }

    #[test]
    fn crop_clamps() {
        let img = RgbImage::new(4, 3, (0..36).collect()).unwrap();
        let c = img.crop(-1, 1, 3, 5).unwrap();
        assert_eq!((c.width_px, c.height_px), (2, 2));
        assert_eq!(c.pixel(0, 0), img.pixel(0, 1));
        assert!(img.crop(10, 10, 2, 2).is_none());
    }
}
