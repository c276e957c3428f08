//! The public sample PDFs beside the repository (`../shared/corpora/pdf`, py-pdf/sample-files, read
//! in place, never copied in): every file is read or refused with a plain reason, within the reading
//! budget, and the scan encodings real scanners write are decoded to the picture they hold.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use onewindow::reading::{pdf, Format};

use crate::helpers::{model_reader, repo};

/// The corpus directory: `ONEWINDOW_PDF_CORPUS`, else `../shared/corpora/pdf` beside the checkout.
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("ONEWINDOW_PDF_CORPUS").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared/corpora/pdf"));
    dir.is_dir().then_some(dir)
}

fn corpus_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        crate::helpers::files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf"))).collect();
    files.sort();
    files
}

/// A reason an applicant can read: Chinese, with none of a parser's own words in it.
fn plain(reason: &str) -> bool {
    let lower = reason.to_lowercase();
    reason.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        && !["error", "failed", "parse", "xref", "lopdf", "trailer", "object", "panic", "invalid"].iter().any(|w| lower.contains(w))
}

#[test]
fn every_public_sample_pdf_is_read_or_refused_with_a_plain_reason_within_the_budget() {
    let Some(dir) = corpus() else {
        eprintln!("the public PDF corpus is not beside this checkout (set ONEWINDOW_PDF_CORPUS): skipped");
        return;
    };
    let reader = model_reader();
    let budget = reader.limits().pdf_timeout + Duration::from_secs(60);
    let files = corpus_files(&dir);
    assert!(files.len() >= 25, "the corpus holds its files: {}", files.len());
    let mut unreadable = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let started = Instant::now();
        let outcome = reader.read(&bytes);
        let took = started.elapsed();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(took < budget, "{name}: {took:?} over the budget");
        assert!(outcome.system_error.is_none(), "{name}: {:?}", outcome.system_error);
        match &outcome.unreadable {
            Some(reason) => {
                assert!(plain(reason), "{name}: {reason}");
                unreadable.push((name, reason.clone()));
            }
            None => assert!(!outcome.lines.is_empty(), "{name}: readable but no lines"),
        }
    }
    eprintln!("{} of {} unreadable: {unreadable:#?}", unreadable.len(), files.len());
    let reason_of = |name: &str| unreadable.iter().find(|(n, _)| n == name).map(|(_, r)| r.as_str());
    assert!(reason_of("libreoffice-writer-password.pdf").is_some_and(|r| r.contains("加密")), "a password is named as such");
    // The damaged structures poppler repairs are opened after the rebuild: the linearised file with
    // a lost page tree is read; the grey scan's picture (no text in it) reaches the OCR.
    for (repaired, readable) in [("unreadablemetadata.pdf", true), ("grayscale-image.pdf", false)] {
        let outcome = reader.read(&std::fs::read(files.iter().find(|f| f.ends_with(repaired)).unwrap()).unwrap());
        assert!(outcome.method.ends_with(pdf::REPAIRED), "{repaired}: {}", outcome.method);
        assert_eq!(outcome.is_readable(), readable, "{repaired}: {:?}", outcome.unreadable);
        if !readable {
            assert!(outcome.unreadable.unwrap().contains("未识别到文字"), "{repaired}: opened, and only no text found");
        }
    }
}

/// ImageMagick's scans of one picture in four encodings (uncompressed behind ASCII85, LZW, CCITT
/// fax, and JPEG in CMYK in another sample): each is taken out of its PDF and shows the picture.
#[test]
fn scans_in_ascii85_lzw_ccitt_and_cmyk_are_decoded_to_their_pictures() {
    let Some(dir) = corpus() else {
        eprintln!("the public PDF corpus is not beside this checkout (set ONEWINDOW_PDF_CORPUS): skipped");
        return;
    };
    let magick = dir.join("007-imagemagick-images");
    let smile = image::open(magick.join("smile.png")).unwrap().to_luma8();
    for (file, tolerance) in
        [("imagemagick-ASCII85Decode.pdf", 8.0), ("imagemagick-lzw.pdf", 8.0), ("imagemagick-CCITTFaxDecode.pdf", 40.0)]
    {
        let pages = pdf::scan_page_images(&std::fs::read(magick.join(file)).unwrap());
        assert_eq!(pages.len(), 1, "{file}");
        assert_eq!(Format::sniff(&pages[0].bytes), pages[0].format, "{file}");
        let decoded = image::load_from_memory(&pages[0].bytes).unwrap().to_luma8();
        assert_eq!(decoded.dimensions(), smile.dimensions(), "{file}");
        let difference: f64 = decoded.pixels().zip(smile.pixels()).map(|(a, b)| (a.0[0] as f64 - b.0[0] as f64).abs()).sum::<f64>()
            / (smile.width() * smile.height()) as f64;
        assert!(difference < tolerance, "{file}: mean difference {difference:.1} from smile.png");
    }
    let cmyk = pdf::scan_page_images(&std::fs::read(dir.join("023-cmyk-image/cmyk-image.pdf")).unwrap());
    assert_eq!(cmyk.len(), 1);
    let decoded = image::load_from_memory(&cmyk[0].bytes).unwrap().to_rgb8();
    assert!(decoded.width() > 10 && decoded.height() > 10);
    // Not a blank or a negative: a real picture has light and dark.
    let luma: Vec<u8> = image::DynamicImage::ImageRgb8(decoded).to_luma8().into_raw();
    assert!(luma.iter().any(|v| *v > 160) && luma.iter().any(|v| *v < 96), "the CMYK image has its tones");
}

/// A package whose `file` lost its cross-reference table and trailer (cut just before them, every
/// object intact), decided as the service decides it.
fn decide_with_rebuilt(file: &str) -> serde_json::Value {
    let fixture = crate::helpers::Fixture::load("clean-catering-stsong");
    let whole = crate::fixtures::decider().run("drainage-permit", &fixture.form, &inputs(&fixture, None), fixture.at()).unwrap();
    assert_eq!(serde_json::to_value(&whole).unwrap()["outcome"], "issued", "the package is clean as it stands");
    let decision = crate::fixtures::decider().run("drainage-permit", &fixture.form, &inputs(&fixture, Some(file)), fixture.at()).unwrap();
    serde_json::to_value(decision).unwrap()
}

fn inputs(fixture: &crate::helpers::Fixture, cut: Option<&str>) -> Vec<onewindow::pipeline::InputFile> {
    fixture
        .files
        .iter()
        .map(|(name, bytes)| {
            let mut bytes = bytes.clone();
            if Some(name.as_str()) == cut {
                let xref = bytes.windows(5).rposition(|w| w == b"xref\n" || w == b"xref\r").expect("a classic table");
                bytes.truncate(xref);
            }
            onewindow::pipeline::InputFile::new(name.clone(), bytes)
        })
        .collect()
}

fn repaired_files(decision: &serde_json::Value) -> Vec<String> {
    decision["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "documents.repaired")
        .flat_map(|f| f["evidence"].as_array().unwrap().iter().map(|e| e["document"].as_str().unwrap().to_string()))
        .collect()
}

/// The rebuilt report is read (its kind known), and the case goes to a person with the file named:
/// a rebuilt file may have lost what nothing shows was there.
#[test]
fn a_rebuilt_pdf_is_read_but_never_issued_on() {
    let decision = decide_with_rebuilt("水质检测报告.pdf");
    let report = decision["documents"].as_array().unwrap().iter().find(|d| d["file"] == "水质检测报告.pdf").unwrap();
    assert_eq!(report["readable"], true, "{report}");
    assert_eq!(report["kind"], "water_quality_report", "the kind is still known from what was read");
    assert_eq!(decision["outcome"], "needs_review", "{}", decision["findings"]);
    assert_eq!(repaired_files(&decision), ["水质检测报告.pdf"]);
}

/// Regression (review): a material with no fields (the drainage plan) counted as present whatever
/// the rebuild had kept, and the package issued.
#[test]
fn a_rebuilt_material_without_fields_still_goes_to_a_person() {
    let decision = decide_with_rebuilt("排水管网图及说明.pdf");
    assert_eq!(decision["outcome"], "needs_review", "{}", decision["findings"]);
    assert_eq!(repaired_files(&decision), ["排水管网图及说明.pdf"]);
}
