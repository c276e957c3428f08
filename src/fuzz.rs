//! Fuzzing harnesses for what reads applicants' bytes: the PDF text reader and the repair pass, the
//! scan-image decoders, the photo decoder and the form validator.
//!
//! Each harness is a plain function that must return without panicking for any input, run by
//! `bolero` as an ordinary test with a bounded number of inputs (`ONEWINDOW_FUZZ_ITERATIONS`, 256 by
//! default, so `cargo test` stays quick). Inputs are edits of real seed files (byte changes, a cut,
//! a spliced chunk) rather than random bytes alone: random bytes stop at a file's first check and
//! never reach the parsers' insides. Longer runs on the stable toolchain:
//!
//!     ONEWINDOW_FUZZ_ITERATIONS=1000000 cargo test --release --lib fuzz::
//!
//! The PDF readers run here in-process, without the child process and its limits that guard them
//! in the service, so a panic or a runaway allocation shows as the failure it is. (pdf-extract is
//! not fuzzed here: it is known to panic, which is why it runs in a child; the child's outcome for
//! damaged files is tested over the public corpus in `tests/api/corpus.rs`.)

use std::path::Path;

/// An edit of a seed: which seed and which edits (the first byte's bits), bytes changed at positions
/// (taken modulo the length), a cut, and a chunk inserted.
pub type Mutation = (u8, Vec<(u32, u8)>, u32, (u32, Vec<u8>));

/// The seed picked by `mutation.0`, with the mutation applied. The first byte's bits choose the seed
/// (bits 0–1), how many byte edits apply (bits 2–4: none to seven: a checksum or an offset is broken
/// by the first, so most inputs keep few), whether the cut (bit 5) and the splice (bit 6) apply.
pub fn mutate(seeds: &[Vec<u8>], mutation: &Mutation) -> Vec<u8> {
    let (choice, edits, cut, (splice_at, chunk)) = mutation;
    let mut bytes = seeds[(*choice & 0b11) as usize % seeds.len()].clone();
    if bytes.is_empty() {
        return bytes;
    }
    for (at, value) in edits.iter().take(((*choice >> 2) & 0b111) as usize) {
        let at = *at as usize % bytes.len();
        bytes[at] = *value;
    }
    if choice & 0b100_0000 != 0 {
        let at = *splice_at as usize % (bytes.len() + 1);
        bytes.splice(at..at, chunk.iter().copied().take(256));
    }
    if choice & 0b10_0000 != 0 {
        bytes.truncate(*cut as usize % (bytes.len() + 1));
    }
    bytes
}

/// The text readers and the repair pass on one PDF. A repaired file is read again, as the service
/// does. Whether text came out (so a run can say how deep its inputs went).
pub fn pdf_text(bytes: &[u8]) -> bool {
    let read = crate::reading::pdf_fallback::extract_pages(bytes).is_ok_and(|p| !p.is_empty());
    // The rebuild runs on every input, readable or not, for its own sake.
    let repaired = crate::reading::pdf_repair::rebuild(bytes).is_some_and(|repaired| {
        assert!(repaired.starts_with(bytes), "a rebuild appends, it never rewrites the file");
        crate::reading::pdf_fallback::extract_pages(&repaired).is_ok_and(|p| !p.is_empty())
    });
    read || repaired
}

/// The scan-image path on one PDF: every page's images decoded as the OCR would get them. Whether
/// one decoded.
pub fn pdf_images(bytes: &[u8]) -> bool {
    // As the service reads it: the file as it stands, else as rebuilt.
    let doc = match lopdf::Document::load_mem(bytes) {
        Ok(doc) => doc,
        Err(_) => match crate::reading::pdf_repair::rebuild(bytes).and_then(|r| lopdf::Document::load_mem(&r).ok()) {
            Some(doc) => doc,
            None => return false,
        },
    };
    let mut decoded = false;
    for (_, id) in doc.get_pages() {
        // lopdf's own `get_page_images` indexes an empty /ColorSpace array; in the service that
        // is caught in the child. Here only the project's decoder is under test.
        let Ok(Ok(images)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.get_page_images(id))) else { continue };
        for image in &images {
            if let Ok((format, data)) = crate::reading::pdf_images::encode(&doc, image) {
                assert!(!data.is_empty());
                assert_eq!(crate::reading::Format::sniff(&data), format, "the bytes are what they are said to be");
                decoded = true;
            }
        }
    }
    decoded
}

/// A photo as uploaded: decoded with the service's limits, or refused with a reason in Chinese.
/// Whether it decoded.
pub fn photo(bytes: &[u8]) -> bool {
    let format = crate::reading::Format::sniff(bytes);
    if !matches!(format, crate::reading::Format::Jpeg | crate::reading::Format::Png) {
        return false;
    }
    let limits = crate::reading::image::ImageLimits { max_side: 4096, max_alloc_bytes: 64 * 1024 * 1024 };
    match crate::reading::image::decode(bytes, format, limits) {
        Ok(image) => {
            assert!(image.width >= 1 && image.height >= 1 && image.data.len() == image.width * image.height * 3);
            true
        }
        Err(reason) => {
            assert!(reason.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "a plain reason: {reason}");
            false
        }
    }
}

/// A form of any shape against a service's schema: errors, never a panic, and the same errors twice.
pub fn form(schema: &std::collections::BTreeMap<String, crate::rules::catalog::FormField>, form: &serde_json::Value) {
    let first = crate::rules::schema::validate_form(schema, form);
    let again = crate::rules::schema::validate_form(schema, form);
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
    let _ = crate::rules::schema::apply_defaults(schema, form);
}

/// A JSON value built from bytes: objects with the schema's own keys and others, strings with
/// control, bidi and wide characters, numbers at the edges of f64.
pub fn json_from_bytes(bytes: &[u8], keys: &[String]) -> serde_json::Value {
    fn value(bytes: &mut std::slice::Iter<'_, u8>, keys: &[String], depth: u8) -> serde_json::Value {
        use serde_json::Value;
        let Some(&tag) = bytes.next() else { return Value::Null };
        let mut take = |n: usize| bytes.by_ref().take(n).copied().collect::<Vec<u8>>();
        match tag % 8 {
            0 => Value::Null,
            1 => Value::Bool(tag & 0x80 != 0),
            2 => {
                let raw = take(8);
                let mut eight = [0u8; 8];
                eight[..raw.len()].copy_from_slice(&raw);
                serde_json::Number::from_f64(f64::from_le_bytes(eight)).map_or(Value::Null, Value::Number)
            }
            3 => Value::from(i64::from_le_bytes({
                let raw = take(8);
                let mut eight = [0u8; 8];
                eight[..raw.len()].copy_from_slice(&raw);
                eight
            })),
            4 | 5 => {
                const ODD: [char; 8] = ['\0', '\u{7}', '\u{202e}', '\u{200b}', '无', '锡', '１', '\u{feff}'];
                let n = (tag >> 3) as usize;
                Value::String(
                    take(n).iter().map(|b| if b % 5 == 0 { ODD[*b as usize % ODD.len()] } else { (b % 94 + 33) as char }).collect(),
                )
            }
            6 if depth < 4 => Value::Array((0..(tag >> 5)).map(|_| value(bytes, keys, depth + 1)).collect()),
            _ if depth < 4 => {
                let mut map = serde_json::Map::new();
                for _ in 0..(tag >> 4) {
                    let Some(&k) = bytes.next() else { break };
                    let key = keys.get(k as usize).cloned().unwrap_or_else(|| format!("k{k}"));
                    map.insert(key, value(bytes, keys, depth + 1));
                }
                Value::Object(map)
            }
            _ => Value::Null,
        }
    }
    value(&mut bytes.iter(), keys, 0)
}

/// Seed files from the repository, read once per harness.
pub fn seeds(paths: &[&str]) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    paths.iter().map(|p| std::fs::read(root.join(p)).unwrap_or_else(|e| panic!("seed {p}: {e}"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `harness` on mutations of `seeds`, and prints how many inputs got through to a result:
    /// a run whose inputs all stop at the first check has tested nothing, so at least one must.
    fn run(name: &str, seeds: &[Vec<u8>], harness: fn(&[u8]) -> bool) {
        let through = std::sync::atomic::AtomicUsize::new(0);
        let total = std::sync::atomic::AtomicUsize::new(0);
        bolero::check!().with_type::<Mutation>().with_iterations(iterations()).for_each(|m| {
            total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if harness(&mutate(seeds, m)) {
                through.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let (through, total) = (through.into_inner(), total.into_inner());
        eprintln!("{name}: {through} of {total} inputs read through");
        assert!(through > 0, "{name}: no input got past the first check");
    }

    fn iterations() -> usize {
        std::env::var("ONEWINDOW_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    }

    /// Small scans built here: a CCITT Group 4 image and a 1-bit Flate image, so the image path
    /// has seeds in the encodings it decodes.
    fn scan_seeds() -> Vec<Vec<u8>> {
        let (width, height) = (24u32, 8u32);
        let mut encoder = fax::encoder::Encoder::new(fax::VecWriter::new());
        for y in 0..height {
            let line = (0..width).map(move |x| if (x + y) % 5 == 0 { fax::Color::Black } else { fax::Color::White });
            encoder.encode_line(line, width).expect("encodes");
        }
        let g4 = encoder.finish().expect("finishes").finish();
        let ccitt = format!(
            "/Width {width} /Height {height} /ImageMask true /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns {width} /Rows {height} >>"
        );
        let mut flate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut flate, &[0b1010_1010; 3 * 8]).expect("writes");
        let flate = flate.finish().expect("finishes");
        let bilevel = format!("/Width {width} /Height {height} /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode");
        // A two-entry palette at 4 bits whose samples also index past it, and CMYK rows behind a PNG
        // predictor: the paths a review found unfuzzed.
        let deflate = |data: &[u8]| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut z, data).expect("writes");
            z.finish().expect("finishes")
        };
        let palette = format!(
            "/Width {width} /Height {height} /ColorSpace [/Indexed /DeviceRGB 1 <FF000000FF00>] /BitsPerComponent 4 /Filter /FlateDecode"
        );
        let indices = deflate(&[0x1F; 12 * 8]);
        let cmyk = format!(
            "/Width {width} /Height {height} /ColorSpace /DeviceCMYK /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 4 /Columns {width} /BitsPerComponent 8 >>"
        );
        let rows: Vec<u8> =
            (0..height).flat_map(|y| std::iter::once(0u8).chain((0..width * 4).map(move |i| ((i + y) * 7) as u8))).collect();
        vec![scan_pdf(&ccitt, &g4), scan_pdf(&bilevel, &flate), scan_pdf(&palette, &indices), scan_pdf(&cmyk, &deflate(&rows))]
    }

    fn scan_pdf(image_dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        let mut object = |out: &mut Vec<u8>, body: &[u8]| {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        };
        object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
        object(&mut out, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
        object(
            &mut out,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
        );
        let mut image = format!("<< /Type /XObject /Subtype /Image {image_dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        image.extend_from_slice(data);
        image.extend_from_slice(b"\nendstream");
        object(&mut out, &image);
        object(&mut out, b"<< /Length 23 >>\nstream\nq 100 0 0 100 0 0 cm /Im1 Do Q\nendstream");
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f\r\n", offsets.len() + 1).as_bytes());
        for offset in &offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
        }
        out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", offsets.len() + 1).as_bytes());
        out
    }

    #[test]
    fn the_scan_seeds_decode_before_they_are_mutated() {
        for (i, seed) in scan_seeds().iter().enumerate() {
            let doc = lopdf::Document::load_mem(seed).unwrap();
            let page = doc.get_pages()[&1];
            let images = doc.get_page_images(page).unwrap();
            let (format, png) = crate::reading::pdf_images::encode(&doc, &images[0]).unwrap();
            assert_eq!(format, crate::reading::Format::Png);
            let decoded = image::load_from_memory(&png).unwrap().to_rgb8();
            assert_eq!(decoded.dimensions(), (24, 8), "seed {i}");
            let colours: std::collections::BTreeSet<[u8; 3]> = decoded.pixels().map(|p| p.0).collect();
            match i {
                0 | 1 => assert!(colours.contains(&[0, 0, 0]) && colours.contains(&[255, 255, 255]), "black on white: {colours:?}"),
                // Index 1 is green; 15, past the palette, takes its last entry (green) too.
                2 => assert_eq!(colours, [[0, 255, 0]].into_iter().collect(), "palette"),
                _ => assert!(colours.len() > 8, "the CMYK rows come out unfiltered: {}", colours.len()),
            }
        }
    }

    #[test]
    fn fuzz_pdf_text_reader_and_repair() {
        let seeds = seeds(&[
            "fixtures/pdf-samples/stsong.pdf",
            "fixtures/pdf-samples/helvetica.pdf",
            "fixtures/pdf-samples/encrypted_nouser.pdf",
            "fixtures/drainage-permit/clean-catering-stsong/水质检测报告.pdf",
        ]);
        run("pdf text", &seeds, pdf_text);
    }

    #[test]
    fn fuzz_pdf_scan_images() {
        let seeds = scan_seeds();
        run("pdf scan images", &seeds, pdf_images);
    }

    #[test]
    fn fuzz_photo_decoder() {
        let mut png = Vec::new();
        let mut jpeg = Vec::new();
        let picture = image::RgbImage::from_fn(32, 16, |x, y| image::Rgb([(x * 8) as u8, (y * 16) as u8, 128]));
        picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        picture.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let seeds = vec![png, jpeg];
        run("photos", &seeds, photo);
    }

    #[test]
    fn fuzz_form_validation() {
        let rules = crate::rules::RuleSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let schemas: Vec<_> = ["drainage-permit", "retirement", "flexible-employment"]
            .iter()
            .map(|id| rules.service(id).expect("service").form_schema().clone())
            .collect();
        bolero::check!().with_type::<(u8, Vec<u8>)>().with_iterations(iterations()).for_each(|(pick, bytes)| {
            let schema = &schemas[*pick as usize % schemas.len()];
            let keys: Vec<String> = schema.keys().cloned().collect();
            form(schema, &json_from_bytes(bytes, &keys));
        });
    }
}
