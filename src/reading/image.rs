//! Photos and scans: decode with limits, read with OCR, and lay the recognised pieces out as lines.
//!
//! The detector finds text pieces (a label, a value, one table cell); the field readers expect lines
//! the way a text layer gives them ("名称 无锡市…", a results row with its numbers), so pieces on the
//! same row of the page are joined left to right. Rows are found in the page's own frame: a photo
//! taken a few degrees askew is levelled by the median slant of its long pieces first.

use std::io::Cursor;

use image::{ImageDecoder, ImageFormat, ImageReader};

use super::{Format, Piece, TextLine};
use crate::inference::Ocr;

/// Decoding limits: a decompression bomb is refused before its pixels are allocated.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_side: u32,
    pub max_alloc_bytes: u64,
}

/// The defaults, written once (`config` offers each as a flag). A 48-megapixel phone photo
/// (8000×6000) decodes in 144 MiB as RGB.
pub const DEFAULT_MAX_SIDE: u32 = 10_000;
pub const DEFAULT_MAX_MIB: u64 = 256;

impl Default for ImageLimits {
    fn default() -> Self {
        Self { max_side: DEFAULT_MAX_SIDE, max_alloc_bytes: DEFAULT_MAX_MIB * 1024 * 1024 }
    }
}

/// Decode JPEG or PNG bytes to RGB, applying the EXIF orientation a phone records.
pub fn decode(bytes: &[u8], format: Format, limits: ImageLimits) -> Result<vision::RgbImage, String> {
    // The JPEG decoder fills what a cut file lacks with grey and says nothing: the top of a page
    // would be read as the page. A scan's entropy-coded data cannot hold an end marker, so the last
    // start-of-scan must be followed by one.
    if format == Format::Jpeg && !jpeg_is_whole(bytes) {
        return Err("图片文件不完整（被截断），请重新拍摄或导出后上传".to_string());
    }
    let format = match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        other => return Err(format!("不是图片（{}）", other.as_str())),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(image_limits);
    let described = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => format!("图片尺寸过大（单边上限{}像素），请缩小后重新上传", limits.max_side),
        image::ImageError::Unsupported(_) => "图片格式或编码不受支持，请上传JPEG或PNG图片".to_string(),
        other => {
            // The decoder's own words are for the log, not the applicant.
            tracing::info!(error = %other, "image not decoded");
            "图片文件已损坏或不完整，请重新拍摄或导出后上传".to_string()
        }
    };
    let mut decoder = reader.into_decoder().map_err(described)?;
    let (width, height) = decoder.dimensions();
    // Three bytes a pixel once converted to RGB; counted before decoding, not after.
    if u64::from(width) * u64::from(height) * 3 > limits.max_alloc_bytes {
        return Err(format!("图片像素过多（{width}×{height}），请缩小后重新上传"));
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| image::DynamicImage::from_decoder(decoder)))
        .map_err(|_| "图片文件结构异常，无法解码".to_string())?
        .map_err(described)?;
    decoded.apply_orientation(orientation);
    let rgb = decoded.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    vision::RgbImage::new(w, h, rgb.into_raw()).ok_or_else(|| "图片解码结果不完整".to_string())
}

/// Whether the JPEG's last scan is followed by its end-of-image marker (`FF D9`). A file with no
/// scan at all is left to the decoder, which refuses it as damaged.
fn jpeg_is_whole(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    last_scan.is_none_or(|at| bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]))
}

/// OCR one page image into text lines of `page`.
pub fn read_page(ocr: &dyn Ocr, image: &vision::RgbImage, page: u32) -> Result<Vec<TextLine>, String> {
    let pieces = crate::telemetry::timed(crate::telemetry::Stage::Ocr, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ocr.read(image)))
    })
    .map_err(|_| "文字识别异常终止".to_string())?
    .map_err(|e| format!("文字识别失败：{e}"))?;
    Ok(rows(&pieces, page))
}

/// The angle of the page's text baseline: the median slant of pieces at least three times as wide
/// as tall (short pieces say little about direction).
fn page_slant(pieces: &[vision::TextLine]) -> f32 {
    let mut angles: Vec<f32> = pieces
        .iter()
        .filter_map(|p| {
            let [tl, tr, _, bl] = p.quad;
            let (dx, dy) = (tr[0] - tl[0], tr[1] - tl[1]);
            let width = (dx * dx + dy * dy).sqrt();
            let height = ((bl[0] - tl[0]).powi(2) + (bl[1] - tl[1]).powi(2)).sqrt();
            (width >= 3.0 * height && width > 0.0).then(|| dy.atan2(dx))
        })
        .collect();
    if angles.is_empty() {
        return 0.0;
    }
    angles.sort_by(f32::total_cmp);
    angles[angles.len() / 2]
}

/// Join pieces on the same row, left to right. A row's confidence is that of its least sure piece.
pub fn rows(pieces: &[vision::TextLine], page: u32) -> Vec<TextLine> {
    let round = |c: f32| (c as f64 * 1000.0).round() / 1000.0;
    row_groups(pieces)
        .into_iter()
        .filter_map(|row| {
            let (text, spans) = joined(pieces, &row);
            let line_pieces: Vec<Piece> =
                spans.into_iter().map(|(i, start, end)| Piece { start, end, confidence: round(pieces[i].confidence) }).collect();
            let confidence = line_pieces.iter().map(|p| p.confidence).reduce(f64::min)?;
            Some(TextLine { page, text, confidence, pieces: line_pieces })
        })
        .collect()
}

/// A row as [`rows`] joins it, with where its pieces stand on the image as given.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedRow {
    pub text: String,
    pub quads: Vec<vision::geometry::Quad>,
}

/// The rows of an image as [`read_page`] reads them, each with its pieces' quads in the frame of
/// the image as given (its EXIF orientation applied, as a browser shows it), however the reader
/// turned the page to read it: what a reviewer's page draws over the image.
pub fn placed_rows(ocr: &dyn Ocr, image: &vision::RgbImage) -> Result<Vec<PlacedRow>, String> {
    let (pieces, turn) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ocr.read_turned(image)))
        .map_err(|_| "文字识别异常终止".to_string())?
        .map_err(|e| format!("文字识别失败：{e}"))?;
    let given = |q: vision::geometry::Quad| q.map(|p| turn.to_given(p, image.width, image.height));
    Ok(row_groups(&pieces)
        .into_iter()
        .map(|row| {
            let (text, spans) = joined(&pieces, &row);
            PlacedRow { text, quads: spans.into_iter().map(|(i, _, _)| given(pieces[i].quad)).collect() }
        })
        .filter(|row| !row.quads.is_empty())
        .collect())
}

/// A row's text, its pieces joined by spaces, with each non-empty piece's index and its
/// characters `start..end` in the text.
fn joined(pieces: &[vision::TextLine], row: &[usize]) -> (String, Vec<(usize, usize, usize)>) {
    let mut text = String::new();
    let mut spans = Vec::with_capacity(row.len());
    for &i in row {
        let piece_text = pieces[i].text.trim();
        if piece_text.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        let start = text.chars().count();
        text.push_str(piece_text);
        spans.push((i, start, text.chars().count()));
    }
    (text, spans)
}

/// The pieces of each row, top to bottom, each row's left to right, as indices into `pieces`.
fn row_groups(pieces: &[vision::TextLine]) -> Vec<Vec<usize>> {
    let (sin, cos) = (-page_slant(pieces)).sin_cos();
    let level = |[x, y]: [f32; 2]| [x * cos - y * sin, x * sin + y * cos];
    // (top, bottom, left, index) in the levelled frame
    let mut boxes: Vec<(f32, f32, f32, usize)> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let pts = p.quad.map(level);
            let top = pts.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
            let bottom = pts.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
            let left = pts.iter().map(|p| p[0]).fold(f32::MAX, f32::min);
            (top, bottom, left, i)
        })
        .collect();
    boxes.sort_by(|a, b| ((a.0 + a.1) / 2.0).total_cmp(&((b.0 + b.1) / 2.0)));
    let mut rows: Vec<Vec<(f32, f32, f32, usize)>> = Vec::new();
    for b in boxes {
        let centre = (b.0 + b.1) / 2.0;
        match rows.last_mut() {
            // Same row when this piece's centre lies within the row's first piece and the heights
            // are alike (a title twice as tall is a row of its own).
            Some(row)
                if {
                    let first = row[0];
                    let (h0, h1) = (first.1 - first.0, b.1 - b.0);
                    centre > first.0 && centre < first.1 && h1 < 2.0 * h0 && h0 < 2.0 * h1
                } =>
            {
                row.push(b)
            }
            _ => rows.push(vec![b]),
        }
    }
    rows.into_iter()
        .map(|mut row| {
            row.sort_by(|a, b| a.2.total_cmp(&b.2));
            row.into_iter().map(|b| b.3).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (review): a JPEG cut in its scan decoded, grey below the cut, as a whole image.
    #[test]
    fn a_cut_jpeg_is_refused_and_a_whole_one_decodes() {
        let picture = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 90]));
        let mut jpeg = Vec::new();
        picture.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
        assert!(decode(&jpeg, Format::Jpeg, ImageLimits::default()).is_ok());
        let cut = &jpeg[..jpeg.len() * 3 / 4];
        assert!(image::load_from_memory(cut).is_ok(), "the decoder alone takes the cut file");
        let refused = decode(cut, Format::Jpeg, ImageLimits::default()).unwrap_err();
        assert!(refused.contains("不完整"), "{refused}");
    }

    fn piece(text: &str, x: f32, y: f32, w: f32, h: f32, angle: f32, confidence: f32) -> vision::TextLine {
        let (s, c) = angle.sin_cos();
        let at = |u: f32, v: f32| [x + u * c - v * s, y + u * s + v * c];
        vision::TextLine { text: text.into(), confidence, quad: [at(0.0, 0.0), at(w, 0.0), at(w, h), at(0.0, h)] }
    }

    #[test]
    fn label_and_value_pieces_on_one_row_become_one_line_even_on_a_tilted_photo() {
        for angle in [0.0f32, 0.05, -0.06] {
            // Rows 30 px apart; the value sits 400 px right of its label, so a 3° tilt moves it
            // 20 px down the page: more than half a row.
            let (s, c) = angle.sin_cos();
            let at = |x: f32, y: f32| (x * c - y * s, x * s + y * c);
            let mut pieces = Vec::new();
            for (row, (label, value)) in [("名称", "无锡市新吴区张记餐饮店"), ("经营者", "张建国")].iter().enumerate() {
                let (lx, ly) = at(100.0, 100.0 + 30.0 * row as f32);
                let (vx, vy) = at(500.0, 100.0 + 30.0 * row as f32);
                pieces.push(piece(value, vx, vy, 220.0, 20.0, angle, 0.98));
                pieces.push(piece(label, lx, ly, 60.0, 20.0, angle, 0.99));
            }
            let lines = rows(&pieces, 1);
            let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
            assert_eq!(texts, ["名称 无锡市新吴区张记餐饮店", "经营者 张建国"], "angle {angle}");
            assert_eq!(lines[0].confidence, 0.98, "a row is as sure as its least sure piece");
            let text = &lines[0].text;
            let name = text.find("无锡").unwrap();
            assert_eq!(lines[0].confidence_in(text, 0..name - 1), 0.99, "the label alone is as sure as its own piece");
        }
    }

    #[test]
    fn a_title_twice_as_tall_stays_its_own_row() {
        let pieces =
            vec![piece("营业执照", 300.0, 50.0, 200.0, 50.0, 0.0, 0.99), piece("统一社会信用代码", 50.0, 70.0, 200.0, 18.0, 0.0, 0.99)];
        assert_eq!(rows(&pieces, 1).len(), 2);
    }

    /// A page read upside down: its rows are the rows the reader joined, and their boxes stand
    /// where the text is on the image as the applicant sent it, not on the turned page.
    #[test]
    fn placed_rows_are_the_read_rows_with_their_boxes_on_the_image_as_given() {
        struct Turned(Vec<vision::TextLine>);
        impl Ocr for Turned {
            fn read(&self, _: &vision::RgbImage) -> Result<Vec<vision::TextLine>, crate::inference::InferenceError> {
                Ok(self.0.clone())
            }
            fn read_turned(
                &self,
                image: &vision::RgbImage,
            ) -> Result<(Vec<vision::TextLine>, vision::Turn), crate::inference::InferenceError> {
                Ok((self.read(image)?, vision::Turn { quarter: false, half: true }))
            }
            fn digests(&self) -> std::collections::BTreeMap<String, String> {
                Default::default()
            }
        }
        let pieces = vec![piece("名称", 10.0, 20.0, 40.0, 10.0, 0.0, 0.99), piece("某某公司", 60.0, 20.0, 80.0, 10.0, 0.0, 0.97)];
        let image = vision::RgbImage::new(200, 100, vec![255; 200 * 100 * 3]).unwrap();
        let placed = placed_rows(&Turned(pieces.clone()), &image).unwrap();
        assert_eq!(
            placed.iter().map(|r| r.text.clone()).collect::<Vec<_>>(),
            rows(&pieces, 1).into_iter().map(|l| l.text).collect::<Vec<_>>()
        );
        // The half turn undone: the label's top-left corner (10, 20) stands at (190, 80).
        assert_eq!(placed[0].quads[0][0], [190.0, 80.0]);
        assert_eq!(placed[0].quads.len(), 2);
    }

    #[test]
    fn corrupt_and_oversized_images_are_refused_with_reasons_before_allocating() {
        let limits = ImageLimits::default();
        let err = decode(b"\xFF\xD8\xFF\xE0 not really a jpeg", Format::Jpeg, limits).unwrap_err();
        assert!(err.contains("损坏"), "{err}");
        // A real bomb: a 76 KB PNG of 20000×20000 pixels, refused from its header.
        let bomb = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/photo/bomb/huge.png")).unwrap();
        let err = decode(&bomb, Format::Png, limits).unwrap_err();
        assert!(err.contains("过大"), "{err}");
        let mut png = Vec::new();
        image::ImageEncoder::write_image(image::codecs::png::PngEncoder::new(&mut png), &[0u8; 4], 2, 2, image::ExtendedColorType::L8)
            .unwrap();
        let small = decode(&png, Format::Png, limits).unwrap();
        assert_eq!((small.width, small.height), (2, 2));
    }
}
