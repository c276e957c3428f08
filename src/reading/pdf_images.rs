//! A scanned page's image, taken out of its PDF as a file the OCR decodes (JPEG or PNG).
//!
//! What scanners and scanning apps write: JPEG (`DCTDecode`, grey, RGB or CMYK, as it stands: the
//! image decoder converts CMYK), CCITT fax Group 4 and Group 3 with end-of-line codes
//! (`CCITTFaxDecode`, the black-and-white office scanner's default, decoded by the `fax` crate), and
//! raw samples behind `FlateDecode`, `LZWDecode` or `ASCII85Decode`, with or without a PNG predictor
//! (decoded by lopdf), at 1, 2, 4 or 8 bits per component in grey, RGB, CMYK, ICC-based or indexed
//! colour. Those are re-encoded here as PNG. JBIG2 and JPEG 2000 are named as unsupported: the
//! applicant is told which encoding to avoid. `/Decode` is honoured for one-component images (grey,
//! masks, fax), the common case; an inverted colour image stays as it is.
//!
//! An image that does not decode whole (a fax stream that breaks off, fewer samples than its size
//! says) is damaged, never padded: a decision does not rest on the top half of a page.
//!
//! Runs in the limited child process (see `pdf.rs`): a decompression bomb or a decoder fault ends
//! there. A stream whose first filter is Flate (nearly all) is also measured before it is inflated
//! for good; other chains (ASCII85 then Flate, LZW) and palettes are bounded only by the child.

use lopdf::{Dictionary, Document, Object};

use super::Format;

/// Largest side of a page image taken out of a PDF.
const MAX_SIDE: i64 = 10_000;

/// Why a page's image cannot be given to the OCR, in words for the applicant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// An encoding the service does not decode (JBIG2, JPEG 2000, …), by its name.
    Encoding(String),
    /// A colour space the service does not convert (Lab, Separation, DeviceN, …).
    ColorSpace(String),
    /// Sizes out of range or data that does not decode to them.
    Damaged,
    /// A page whose picture sits inside a form object (drawn indirectly), which is not taken out.
    Nested,
}

impl Unsupported {
    pub fn reason(&self) -> String {
        match self {
            Unsupported::Encoding(name) => {
                format!("扫描件的图像编码（{name}）不受支持，请以JPEG、黑白传真（CCITT）或PNG方式重新扫描，或上传带文字层的PDF")
            }
            Unsupported::ColorSpace(name) => format!("扫描件的颜色空间（{name}）不受支持，请以灰度或彩色重新扫描"),
            Unsupported::Damaged => "扫描件中的图像已损坏，无法解码，请重新扫描后上传".to_string(),
            Unsupported::Nested => "扫描件页面的图像嵌套在表单对象中，无法提取，请重新扫描为普通PDF后上传".to_string(),
        }
    }
}

/// The page image as JPEG or PNG bytes.
pub fn encode(doc: &Document, image: &lopdf::xobject::PdfImage) -> Result<(Format, Vec<u8>), Unsupported> {
    if !(1..=MAX_SIDE).contains(&image.width) || !(1..=MAX_SIDE).contains(&image.height) {
        return Err(Unsupported::Damaged);
    }
    let (width, height) = (image.width as usize, image.height as usize);
    let filters: Vec<String> = filter_names(image.origin_dict);
    let (codec, prefix) = match filters.split_last() {
        Some((last, rest)) if is_image_codec(last) => (Some(last.as_str()), rest),
        _ => (None, &filters[..]),
    };
    if let Some(unknown) = prefix.iter().find(|f| !matches!(f.as_str(), "FlateDecode" | "LZWDecode" | "ASCII85Decode")) {
        return Err(Unsupported::Encoding(unknown.clone()));
    }
    // Raw samples are at most a few bytes a pixel (with a predictor's byte a row); a codec's input is
    // smaller than its pixels.
    let data = undo_filters(image, prefix, codec.is_some(), width * height * 4 + height + 1024)?;
    let inverted = decode_inverted(image.origin_dict);
    match codec {
        Some("DCTDecode") => Ok((Format::Jpeg, data)),
        Some("CCITTFaxDecode") => {
            let params = codec_params(doc, image.origin_dict, filters.len() - 1);
            let grey = ccitt(&data, &params, width, height, inverted)?;
            png(&grey, width, height, image::ExtendedColorType::L8)
        }
        Some(other) => Err(Unsupported::Encoding(other.to_string())),
        None => {
            let image_mask = image.origin_dict.get(b"ImageMask").and_then(Object::as_bool).unwrap_or(false);
            let space = if image_mask {
                Space::Gray
            } else {
                let object = image.origin_dict.get(b"ColorSpace").map_err(|_| Unsupported::ColorSpace("未指定".into()))?;
                color_space(doc, object, 0)?
            };
            let bits = if image_mask { 1 } else { image.bits_per_component.unwrap_or(8) };
            let (samples, color) = expand(&data, &space, bits, width, height, inverted)?;
            png(&samples, width, height, color)
        }
    }
}

fn is_image_codec(name: &str) -> bool {
    matches!(name, "DCTDecode" | "CCITTFaxDecode" | "JBIG2Decode" | "JPXDecode" | "RunLengthDecode")
}

/// The stream's filters in decoding order, with the abbreviations inline images use spelled out.
fn filter_names(dict: &Dictionary) -> Vec<String> {
    let names: Vec<&[u8]> = match dict.get(b"Filter") {
        Ok(Object::Name(name)) => vec![name.as_slice()],
        Ok(Object::Array(array)) => array.iter().filter_map(|o| o.as_name().ok()).collect(),
        _ => Vec::new(),
    };
    names
        .into_iter()
        .map(|name| {
            let name = String::from_utf8_lossy(name).into_owned();
            match name.as_str() {
                "Fl" => "FlateDecode".into(),
                "LZW" => "LZWDecode".into(),
                "A85" => "ASCII85Decode".into(),
                "AHx" => "ASCIIHexDecode".into(),
                "DCT" => "DCTDecode".into(),
                "CCF" => "CCITTFaxDecode".into(),
                "RL" => "RunLengthDecode".into(),
                _ => name,
            }
        })
        .collect()
}

/// The content with the general-purpose filters before the image codec undone (by lopdf, which
/// applies a PNG predictor from `/DecodeParms` when the parameters are the predictor's).
/// A Flate stream inflating past `cap` bytes is damaged (a bomb), found before it is inflated for good.
fn undo_filters(image: &lopdf::xobject::PdfImage, prefix: &[String], codec_follows: bool, cap: usize) -> Result<Vec<u8>, Unsupported> {
    if prefix.is_empty() {
        return Ok(image.content.to_vec());
    }
    if prefix.first().is_some_and(|f| f == "FlateDecode") {
        let mut inflated = std::io::Read::take(flate2::read::ZlibDecoder::new(image.content), cap as u64 + 1);
        let size = std::io::copy(&mut inflated, &mut std::io::sink()).unwrap_or(0);
        if size > cap as u64 {
            return Err(Unsupported::Damaged);
        }
    }
    let mut dict = image.origin_dict.clone();
    dict.set("Filter", Object::Array(prefix.iter().map(|f| Object::Name(f.as_bytes().to_vec())).collect()));
    // lopdf reads a predictor's parameters from a dictionary only: the last general filter's entry
    // of an array is given to it as one. With a codec after them, the parameters are the codec's.
    match image.origin_dict.get(b"DecodeParms") {
        _ if codec_follows => {
            dict.remove(b"DecodeParms");
        }
        Ok(Object::Array(array)) => match array.get(prefix.len() - 1) {
            Some(Object::Dictionary(params)) => dict.set("DecodeParms", Object::Dictionary(params.clone())),
            _ => {
                dict.remove(b"DecodeParms");
            }
        },
        _ => {}
    }
    lopdf::Stream::new(dict, image.content.to_vec()).decompressed_content().map_err(|_| Unsupported::Damaged)
}

/// `/Decode [1 0]`: the samples' meaning inverted (a one-component image's only common case).
fn decode_inverted(dict: &Dictionary) -> bool {
    let Ok(Object::Array(decode)) = dict.get(b"Decode") else { return false };
    let value = |o: &Object| o.as_float().ok().or_else(|| o.as_i64().ok().map(|i| i as f32));
    matches!((decode.first().and_then(value), decode.get(1).and_then(value)), (Some(a), Some(b)) if a > b)
}

/// The codec's `/DecodeParms`: a dictionary, or the codec's entry of an array (one per filter).
fn codec_params(doc: &Document, dict: &Dictionary, index: usize) -> Dictionary {
    let resolve = |o: &Object| match o {
        Object::Reference(id) => doc.get_object(*id).ok().and_then(|o| o.as_dict().ok()).cloned(),
        Object::Dictionary(d) => Some(d.clone()),
        _ => None,
    };
    match dict.get(b"DecodeParms").or_else(|_| dict.get(b"DP")) {
        Ok(Object::Array(array)) => array.get(index).and_then(resolve),
        Ok(other) => resolve(other),
        Err(_) => None,
    }
    .unwrap_or_default()
}

/// A CCITT fax image as 8-bit grey, white 255 and black 0 as it appears on the page.
fn ccitt(data: &[u8], params: &Dictionary, width: usize, height: usize, inverted: bool) -> Result<Vec<u8>, Unsupported> {
    let int = |key: &[u8], default: i64| params.get(key).and_then(Object::as_i64).unwrap_or(default);
    let k = int(b"K", 0);
    let columns = int(b"Columns", 1728);
    if columns as usize != width {
        return Err(Unsupported::Damaged);
    }
    let black_is_1 = params.get(b"BlackIs1").and_then(Object::as_bool).unwrap_or(false);
    let mut grey = Vec::new();
    let mut push_line = |transitions: &[u32]| {
        if grey.len() < width * height {
            for colour in fax::decoder::pels(transitions, width as u32) {
                let black = colour == fax::Color::Black;
                // The sample bit (1 for black only under BlackIs1), then its appearance: in DeviceGray
                // or as a stencil mask, 0 is black and 1 white, unless /Decode inverts it.
                let bit = black == black_is_1;
                grey.push(if bit != inverted { 255 } else { 0 });
            }
        }
    };
    let decoded = if k < 0 {
        fax::decoder::decode_g4(data.iter().copied(), width as u32, Some(height as u32), &mut push_line)
    } else if k == 0 {
        fax::decoder::decode_g3(data.iter().copied(), &mut push_line)
    } else {
        return Err(Unsupported::Encoding("CCITT Group 3 二维".into()));
    };
    // A stream that breaks off, or ends before the image's height, is damaged: never padded.
    if decoded.is_none() || grey.len() != width * height {
        return Err(Unsupported::Damaged);
    }
    Ok(grey)
}

/// A colour space the expansion knows.
#[derive(Debug, Clone, PartialEq)]
enum Space {
    Gray,
    Rgb,
    Cmyk,
    /// A palette: each sample indexes `table`, `base`'s components per entry; an index past the last
    /// entry takes the last, as viewers do.
    Indexed {
        base: Box<Space>,
        table: Vec<u8>,
        last: usize,
    },
}

impl Space {
    fn components(&self) -> usize {
        match self {
            Space::Gray | Space::Indexed { .. } => 1,
            Space::Rgb => 3,
            Space::Cmyk => 4,
        }
    }
}

fn color_space(doc: &Document, object: &Object, depth: u8) -> Result<Space, Unsupported> {
    if depth > 4 {
        return Err(Unsupported::Damaged);
    }
    let by_components = |n: i64| match n {
        1 => Ok(Space::Gray),
        3 => Ok(Space::Rgb),
        4 => Ok(Space::Cmyk),
        _ => Err(Unsupported::Damaged),
    };
    match object {
        Object::Reference(id) => color_space(doc, doc.get_object(*id).map_err(|_| Unsupported::Damaged)?, depth + 1),
        Object::Name(name) => match name.as_slice() {
            b"DeviceGray" | b"CalGray" | b"G" => Ok(Space::Gray),
            b"DeviceRGB" | b"CalRGB" | b"RGB" => Ok(Space::Rgb),
            b"DeviceCMYK" | b"CMYK" => Ok(Space::Cmyk),
            other => Err(Unsupported::ColorSpace(String::from_utf8_lossy(other).into_owned())),
        },
        Object::Array(array) => {
            let family = array.first().and_then(|o| o.as_name().ok()).ok_or(Unsupported::Damaged)?;
            match family {
                b"ICCBased" => {
                    let stream = array.get(1).and_then(|o| o.as_reference().ok()).and_then(|id| doc.get_object(id).ok());
                    let n = stream.and_then(|s| s.as_stream().ok()).and_then(|s| s.dict.get(b"N").and_then(Object::as_i64).ok());
                    by_components(n.ok_or(Unsupported::Damaged)?)
                }
                b"CalGray" | b"CalRGB" | b"DeviceGray" | b"DeviceRGB" | b"DeviceCMYK" => {
                    color_space(doc, &Object::Name(family.to_vec()), depth + 1)
                }
                b"Indexed" | b"I" => {
                    let base = color_space(doc, array.get(1).ok_or(Unsupported::Damaged)?, depth + 1)?;
                    if matches!(base, Space::Indexed { .. }) {
                        return Err(Unsupported::Damaged);
                    }
                    let entries =
                        array.get(2).and_then(|o| o.as_i64().ok()).filter(|h| (0..=255).contains(h)).ok_or(Unsupported::Damaged)? + 1;
                    let lookup = match array.get(3) {
                        Some(Object::String(bytes, _)) => bytes.clone(),
                        Some(Object::Reference(id)) => match doc.get_object(*id) {
                            Ok(Object::Stream(s)) => s.decompressed_content().map_err(|_| Unsupported::Damaged)?,
                            Ok(Object::String(bytes, _)) => bytes.clone(),
                            _ => return Err(Unsupported::Damaged),
                        },
                        _ => return Err(Unsupported::Damaged),
                    };
                    if lookup.len() < entries as usize * base.components() {
                        return Err(Unsupported::Damaged);
                    }
                    Ok(Space::Indexed { base: Box::new(base), table: lookup, last: entries as usize - 1 })
                }
                other => Err(Unsupported::ColorSpace(String::from_utf8_lossy(other).into_owned())),
            }
        }
        _ => Err(Unsupported::Damaged),
    }
}

/// Samples of `bits` per component, rows padded to whole bytes, as 8-bit grey or RGB.
fn expand(
    data: &[u8],
    space: &Space,
    bits: i64,
    width: usize,
    height: usize,
    inverted: bool,
) -> Result<(Vec<u8>, image::ExtendedColorType), Unsupported> {
    if !matches!(bits, 1 | 2 | 4 | 8) {
        return Err(Unsupported::Damaged);
    }
    let bits = bits as usize;
    let components = space.components();
    let stride = (width * components * bits).div_ceil(8);
    // Exactly the rows the size says: more means a predictor's bytes were left in, fewer a cut.
    if data.len() != stride * height {
        return Err(Unsupported::Damaged);
    }
    let max = (1usize << bits) - 1;
    let sample = |row: &[u8], index: usize| -> usize {
        let bit = index * bits;
        let byte = row[bit / 8] as usize;
        (byte >> (8 - bits - bit % 8)) & max
    };
    let scale = |value: usize| (value * 255 / max) as u8;
    let grey_out = matches!(space, Space::Gray) || matches!(space, Space::Indexed { base, .. } if **base == Space::Gray);
    let mut out = Vec::with_capacity(width * height * if grey_out { 1 } else { 3 });
    for row in data.chunks(stride).take(height) {
        for x in 0..width {
            match space {
                Space::Gray => {
                    let v = scale(sample(row, x));
                    out.push(if inverted { 255 - v } else { v });
                }
                Space::Rgb => (0..3).for_each(|c| out.push(scale(sample(row, x * 3 + c)))),
                Space::Cmyk => {
                    let [c, m, y, k] = [0, 1, 2, 3].map(|c| scale(sample(row, x * 4 + c)) as u32);
                    for ink in [c, m, y] {
                        out.push(((255 - ink) * (255 - k) / 255) as u8);
                    }
                }
                Space::Indexed { base, table, last } => {
                    let index = sample(row, x).min(*last);
                    let n = base.components();
                    let entry = &table[index * n..index * n + n];
                    match **base {
                        Space::Gray => out.push(entry[0]),
                        Space::Rgb => out.extend_from_slice(entry),
                        _ => {
                            let k = entry[3] as u32;
                            for ink in &entry[..3] {
                                out.push(((255 - *ink as u32) * (255 - k) / 255) as u8);
                            }
                        }
                    }
                }
            }
        }
    }
    let color = if grey_out { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
    Ok((out, color))
}

fn png(samples: &[u8], width: usize, height: usize, color: image::ExtendedColorType) -> Result<(Format, Vec<u8>), Unsupported> {
    let mut png = Vec::new();
    image::ImageEncoder::write_image(image::codecs::png::PngEncoder::new(&mut png), samples, width as u32, height as u32, color)
        .map_err(|_| Unsupported::Damaged)?;
    Ok((Format::Png, png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bit_grey_rows_are_padded_to_bytes_and_decode_inverts() {
        // 3×2, 1 bit: row 1 = 1 0 1, row 2 = 0 1 0, each row one byte.
        let data = [0b1010_0000, 0b0100_0000];
        let (grey, _) = expand(&data, &Space::Gray, 1, 3, 2, false).unwrap();
        assert_eq!(grey, [255, 0, 255, 0, 255, 0]);
        let (inverted, _) = expand(&data, &Space::Gray, 1, 3, 2, true).unwrap();
        assert_eq!(inverted, [0, 255, 0, 255, 0, 255]);
    }

    #[test]
    fn cmyk_and_palette_samples_become_rgb() {
        let (rgb, color) = expand(&[0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255], &Space::Cmyk, 8, 3, 1, false).unwrap();
        assert_eq!(color, image::ExtendedColorType::Rgb8);
        assert_eq!(rgb, [255, 255, 255, 0, 255, 255, 0, 0, 0]);
        let palette = Space::Indexed { base: Box::new(Space::Rgb), table: vec![10, 20, 30, 40, 50, 60], last: 1 };
        let (rgb, _) = expand(&[0b0100_0000], &palette, 2, 2, 1, false).unwrap();
        assert_eq!(rgb, [40, 50, 60, 10, 20, 30]);
        // Regression (review): an index past the palette panicked; it takes the last entry.
        let (rgb, _) = expand(&[0b1100_0000], &palette, 2, 1, 1, false).unwrap();
        assert_eq!(rgb, [40, 50, 60]);
    }

    #[test]
    fn short_data_or_a_palette_index_past_its_table_is_damage_not_a_panic() {
        assert_eq!(expand(&[0; 5], &Space::Rgb, 8, 2, 1, false), Err(Unsupported::Damaged));
        assert_eq!(expand(&[0; 7], &Space::Rgb, 8, 2, 1, false), Err(Unsupported::Damaged), "a predictor's byte left in");
        assert_eq!(expand(&[0; 2], &Space::Gray, 16, 1, 1, false), Err(Unsupported::Damaged));
    }

    #[test]
    fn a_group_4_fax_image_round_trips_through_the_decoder() {
        // 16×2: a black bar in columns 4..12 on the first line, white below; encoded with the same crate.
        let (width, height) = (16u32, 2u32);
        let mut encoder = fax::encoder::Encoder::new(fax::VecWriter::new());
        let line1: Vec<fax::Color> = (0..width).map(|x| if (4..12).contains(&x) { fax::Color::Black } else { fax::Color::White }).collect();
        let line2 = vec![fax::Color::White; width as usize];
        encoder.encode_line(line1.into_iter(), width).unwrap();
        encoder.encode_line(line2.into_iter(), width).unwrap();
        let data = encoder.finish().unwrap().finish();
        let mut params = Dictionary::new();
        params.set("K", -1);
        params.set("Columns", width as i64);
        let grey = ccitt(&data, &params, width as usize, height as usize, false).unwrap();
        let expected: Vec<u8> = (0..32).map(|i| if (4..12).contains(&i) { 0 } else { 255 }).collect();
        assert_eq!(grey, expected);
        // Regression (review): a stream cut short was padded with white and read as whole.
        assert_eq!(ccitt(&data[..data.len() / 2], &params, width as usize, height as usize, false), Err(Unsupported::Damaged));
        // BlackIs1 without an inverting /Decode shows the bits the other way round, as viewers do.
        params.set("BlackIs1", true);
        let flipped = ccitt(&data, &params, width as usize, height as usize, false).unwrap();
        assert!(flipped.iter().zip(&expected).all(|(a, b)| *a == 255 - b));
    }
}
