//! Photos and scans: the same application as a phone photo of the licence and a scanned report
//! (page images, no text layer) reads the same values as its text PDFs; images that cannot be
//! read are unreadable with a reason, never a crash; the models are named in every decision.

use std::path::PathBuf;

use chrono::NaiveDate;
use onewindow::pipeline::{InputFile, Pipeline};
use onewindow::reading::Reader;
use serde_json::Value;

use crate::helpers::{finding_rules, load_package, model_pipeline, model_reader, repo, spawn_app_with, AppOptions, Fixture};

fn reader() -> Reader {
    model_reader()
}

fn decider() -> &'static Pipeline {
    model_pipeline()
}

fn photo_dir(case: &str) -> PathBuf {
    repo().join("fixtures/photo").join(case)
}

/// A fixture package (`form.json`, `expected.json`, the files it lists) decided with the OCR models,
/// for the service its expected.json names (the drainage permit by default); (decision, expected).
pub fn decide_dir(dir: &std::path::Path) -> (Value, Value) {
    let (form, expected, files, at) = load_package(dir);
    let service = expected["service"].as_str().unwrap_or("drainage-permit");
    let decision = decider().run(service, &form, &files, at).unwrap();
    (serde_json::to_value(&decision).unwrap(), expected)
}

/// The fields the drainage rules rest on: names, codes, dates, every pollutant.
fn decisive_fields(decision: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = decision["fields"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            k.starts_with("report.pollutants.")
                || [
                    "licence.name",
                    "licence.credit_code",
                    "licence.legal_representative",
                    "licence.established",
                    "report.client",
                    "report.sampling_date",
                    "report.report_date",
                ]
                .contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v["value"].clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn photo_and_scan_packages_read_the_same_values_as_their_text_pdfs() {
    let mut summary = Vec::new();
    for case in ["clean-catering-stsong", "clean-hotel-libreoffice-tables", "clean-medical-ttf-method-columns", "licence-name-mismatch"] {
        let (photo, expected) = decide_dir(&photo_dir(case));
        let (text, _) = decide_dir(&Fixture::load(case).dir);
        let kinds: Vec<&Value> = photo["documents"].as_array().unwrap().iter().map(|d| &d["kind"]).collect();
        let expected_kinds: Vec<&Value> = expected["document_kinds"].as_array().unwrap().iter().collect();
        assert_eq!(kinds, expected_kinds, "{case}: every photo and scan recognised as its material");
        assert!(photo["documents"].as_array().unwrap().iter().all(|d| d["readable"] == true), "{case}: {}", photo["documents"]);
        let (ours, theirs) = (decisive_fields(&photo), decisive_fields(&text));
        assert!(ours.len() >= 10, "{case}: only {} decisive fields read: {ours:?}", ours.len());
        assert_eq!(ours, theirs, "{case}: a value read from the photo or scan differs from the text PDF");
        let rules = finding_rules(&photo);
        for rule in expected["failed_rules"].as_array().unwrap() {
            assert!(rules.iter().any(|r| r == rule.as_str().unwrap()), "{case}: {rule} not found in {rules:?}");
        }
        // The same values and the same decision: a clean photo package is issued as its text PDFs
        // are (short table cells read unsurely are read a second time before a field doubts them).
        assert_eq!(photo["outcome"], expected["outcome"], "{case}: {rules:?}");
        assert!(photo["models"]["ocr-recognition"].as_str().unwrap().starts_with("sha256:"), "{case}: {}", photo["models"]);
        summary.push(format!("{case}: {} ({} findings)", photo["outcome"], rules.len()));
    }
    eprintln!("{}", summary.join("\n"));
}

/// `image` made worse in the ways a phone or a scanner does; the same pixels on every run.
fn degradations(image: &image::RgbImage) -> Vec<(&'static str, image::RgbImage)> {
    let (w, h) = image.dimensions();
    // Noise from a fixed linear congruential sequence.
    let mut state = 0x2545_f491_u32;
    let mut noisy = image.clone();
    for v in noisy.iter_mut() {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *v = (*v as i32 + (state >> 24) as i32 / 4 - 32).clamp(0, 255) as u8;
    }
    let mut dark = image.clone();
    dark.iter_mut().for_each(|v| *v = (*v as u32 * 45 / 100) as u8);
    vec![
        ("blurred, sigma 1", image::imageops::blur(image, 1.0)),
        ("blurred, sigma 2", image::imageops::blur(image, 2.0)),
        ("blurred, sigma 3", image::imageops::blur(image, 3.0)),
        ("shrunk to 45%", image::imageops::resize(image, w * 45 / 100, h * 45 / 100, image::imageops::FilterType::Triangle)),
        ("noise of ±32 levels", noisy),
        ("dark, 45% of the light", dark),
    ]
}

fn jpeg(image: &image::RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 60).encode_image(image).unwrap();
    bytes
}

/// The drainage decision on `files` with file `index`'s content replaced by `bytes`.
fn decide_replacing(form: &Value, files: &[InputFile], at: NaiveDate, index: usize, bytes: Vec<u8>) -> Value {
    let mut package = files.to_vec();
    package[index] = InputFile::new(files[index].name.clone(), bytes);
    serde_json::to_value(decider().run("drainage-permit", form, &package, at).unwrap()).unwrap()
}

/// `case` decided with its file `name` replaced by each degradation of the image `unpack` takes out
/// of it (`pack` puts a JPEG of the degraded image back). Every decision must be issued on the text
/// PDFs' decisive values or sent to a person; returns the outcomes in [`degradations`]'s order.
fn decide_degraded(
    case: &str,
    name: &str,
    unpack: impl Fn(&[u8]) -> image::RgbImage,
    pack: impl Fn(&[u8], Vec<u8>) -> Vec<u8>,
) -> Vec<String> {
    let (form, _, files, at) = load_package(&photo_dir(case));
    let (text, _) = decide_dir(&Fixture::load(case).dir);
    let index = files.iter().position(|f| f.name == name).unwrap_or_else(|| panic!("{case} has no {name}"));
    let original = &files[index].bytes;
    let mut outcomes = Vec::new();
    for (how, image) in degradations(&unpack(original)) {
        let decision = decide_replacing(&form, &files, at, index, pack(original, jpeg(&image)));
        let outcome = decision["outcome"].as_str().unwrap().to_string();
        match outcome.as_str() {
            "issued" => {
                assert_eq!(decisive_fields(&decision), decisive_fields(&text), "{name} {how}: issued on values the text PDFs do not have")
            }
            "needs_review" => {}
            other => panic!("{name} {how}: the machine may only issue or send to a person, not {other}"),
        }
        eprintln!("{case}, {name} {how}: {outcome} {:?}", finding_rules(&decision));
        outcomes.push(outcome);
    }
    outcomes
}

/// A licence photo made worse than any fixture (blurred, shrunk, noisy, dark) may be read less well,
/// but never into a permit resting on a wrong value: either every decisive value is the text PDFs'
/// and the decision is theirs, or the case goes to a person. Mild damage must still be issued (a
/// service that sent every photo to a person would pass the first half trivially), and heavy damage
/// must go to a person (the doubt has to show somewhere).
#[test]
fn a_degraded_licence_photo_is_read_right_or_sent_to_a_person() {
    let outcomes =
        decide_degraded("clean-catering-stsong", "营业执照.jpg", |bytes| image::load_from_memory(bytes).unwrap().to_rgb8(), |_, jpeg| jpeg);
    assert_eq!(outcomes[0], "issued", "a slightly blurred photo is still read: {outcomes:?}");
    assert_eq!(outcomes[2], "needs_review", "a photo blurred past reading goes to a person: {outcomes:?}");
}

/// The same for the scanned report, whose page image carries every pollutant value: a misread
/// concentration must never reach an issued permit.
#[test]
fn a_degraded_scan_is_read_right_or_sent_to_a_person() {
    let outcomes = decide_degraded("clean-catering-stsong", "水质检测报告.pdf", scan_page, with_scan_page);
    assert_eq!(outcomes[4], "issued", "a noisy scan is still read: {outcomes:?}");
}

/// The object id of a scanned PDF's (first) page image.
fn page_image(doc: &lopdf::Document) -> lopdf::ObjectId {
    let is_image = |o: &lopdf::Object| o.as_stream().is_ok_and(|s| s.dict.get(b"Subtype").and_then(|v| v.as_name()).ok() == Some(b"Image"));
    *doc.objects.iter().find(|(_, o)| is_image(o)).expect("the scan has a page image").0
}

/// A scanned PDF's page image.
fn scan_page(pdf: &[u8]) -> image::RgbImage {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let stream = doc.get_object(page_image(&doc)).unwrap().as_stream().unwrap();
    image::load_from_memory(&stream.content).unwrap().to_rgb8()
}

/// The scanned PDF `pdf` with its page image replaced by `jpeg` (RGB).
fn with_scan_page(pdf: &[u8], jpeg: Vec<u8>) -> Vec<u8> {
    let mut doc = lopdf::Document::load_mem(pdf).unwrap();
    let id = page_image(&doc);
    let stream = doc.get_object_mut(id).unwrap().as_stream_mut().unwrap();
    stream.set_content(jpeg);
    stream.dict.set("ColorSpace", lopdf::Object::Name(b"DeviceRGB".to_vec()));
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A required test item the OCR does not find on a scan (here its row is blanked out of the page
/// image) may only not have been read: the reviewer is asked to look, not told the report lacks
/// it. From a text layer the same absence is a finding (`catering-las-missing` fails the rule).
#[test]
fn a_required_item_not_found_on_a_scan_is_a_question_for_a_person() {
    let (form, _, files, at) = load_package(&photo_dir("clean-catering-stsong"));
    let index = files.iter().position(|f| f.name == "水质检测报告.pdf").unwrap();
    let mut page = scan_page(&files[index].bytes);
    let height = page.height() as f32;
    // The last row of the results table, 阴离子表面活性剂 (LAS), at 150 dpi.
    for y in (0.478 * height) as u32..(0.502 * height) as u32 {
        for x in 0..page.width() {
            page.put_pixel(x, y, image::Rgb([246, 246, 246]));
        }
    }
    let decision = decide_replacing(&form, &files, at, index, with_scan_page(&files[index].bytes, jpeg(&page)));
    assert_eq!(decision["outcome"], "needs_review", "{decision:#}");
    assert!(decision["fields"].get("report.pollutants.las").is_none(), "the row is gone: {:#}", decision["fields"]);
    let findings = decision["findings"].as_array().unwrap();
    let required = findings.iter().find(|f| f["rule"] == "water.required_items").unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(required["result"], "unknown", "{required}");
    assert!(
        required["message"].as_str().unwrap().contains("las") && required["message"].as_str().unwrap().contains("人工核对"),
        "{required}"
    );
    // The other results on the page are still decided on.
    assert_eq!(decision["fields"]["report.pollutants.oil"]["value"], 21.4);

    let (text, _) = decide_dir(&Fixture::load("catering-las-missing").dir);
    let from_text = text["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "water.required_items").cloned();
    assert_eq!(from_text.map(|f| f["result"].clone()), Some("fail".into()), "{text:#}");
}

/// Scanning apps and PDF tools often stamp a line of real text on a scanned page (a page number, a
/// file name). That text layer alone says nothing about the document; the page image is read too,
/// and the decision is the unstamped scan's.
#[test]
fn a_scan_stamped_with_a_line_of_text_is_still_read_from_its_image() {
    let case = "clean-catering-stsong";
    let (form, expected, files, at) = load_package(&photo_dir(case));
    let index = files.iter().position(|f| f.name == "水质检测报告.pdf").unwrap();
    let mut doc = lopdf::Document::load_mem(&files[index].bytes).unwrap();
    let page = *doc.get_pages().values().next().unwrap();
    let mut content = doc.get_page_content(page).unwrap();
    content.extend_from_slice(b"\nBT /F1 8 Tf 40 20 Td (Scan 0001 - page 1 of 1) Tj ET\n");
    doc.change_page_content(page, content).unwrap();
    let mut stamped = Vec::new();
    doc.save_to(&mut stamped).unwrap();

    let read = reader().read(&stamped);
    assert_eq!(read.method, "ocr-scan", "{read:?}");
    let texts: Vec<&str> = read.lines.iter().map(|l| l.text.as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("Scan 0001")), "the stamp is kept: {texts:#?}");
    assert!(texts.iter().position(|t| t.contains("水质")) < texts.iter().position(|t| t.contains("Scan 0001")), "{texts:#?}");

    let decision = decide_replacing(&form, &files, at, index, stamped);
    let (unstamped, _) = decide_dir(&photo_dir(case));
    assert_eq!(decision["outcome"], expected["outcome"], "{:?}", finding_rules(&decision));
    assert_eq!(decisive_fields(&decision), decisive_fields(&unstamped));
}

#[test]
fn a_png_licence_is_read_line_by_line_with_its_fields() {
    let bytes = std::fs::read(photo_dir("png-licence").join("营业执照.png")).unwrap();
    let read = reader().read(&bytes);
    assert_eq!(read.method, "ocr", "{read:?}");
    let texts: Vec<&str> = read.lines.iter().map(|l| l.text.as_str()).collect();
    for known in ["营业执照", "无锡市新吴区张记餐饮店", "92320214MA1NB3C47B"] {
        assert!(texts.iter().any(|t| t.replace(' ', "").contains(known)), "{known} not read: {texts:#?}");
    }
    assert!(read.lines.iter().all(|l| l.confidence > 0.0 && l.confidence <= 1.0));
}

#[test]
fn a_licence_photographed_sideways_or_upside_down_is_read_upright() {
    let png = image::load_from_memory(&std::fs::read(photo_dir("png-licence").join("营业执照.png")).unwrap()).unwrap();
    let reader = reader();
    for (turn, turned) in
        [("a quarter clockwise", png.rotate90()), ("a quarter anticlockwise", png.rotate270()), ("a half", png.rotate180())]
    {
        let mut bytes = Vec::new();
        turned.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        let read = reader.read(&bytes);
        let texts: Vec<String> = read.lines.iter().map(|l| l.text.replace(' ', "")).collect();
        let position = |needle: &str| texts.iter().position(|t| t.contains(needle));
        let (title, name, code) = (position("营业执照"), position("无锡市新吴区张记餐饮店"), position("92320214MA1NB3C47B"));
        assert!(title.is_some() && name.is_some() && code.is_some(), "turned {turn}: {texts:#?}");
        assert!(title < code && code < name, "turned {turn}: rows top to bottom: {texts:#?}");
    }
}

#[test]
fn bombs_and_broken_images_are_unreadable_with_a_reason() {
    let reader = reader();
    let bomb = std::fs::read(repo().join("fixtures/photo/bomb/huge.png")).unwrap();
    let read = reader.read(&bomb);
    assert!(read.unreadable.as_deref().unwrap_or_default().contains("过大"), "{read:?}");
    let truncated = std::fs::read(repo().join("fixtures/photo/bomb/truncated.jpg")).unwrap();
    let read = reader.read(&truncated);
    assert!(!read.is_readable(), "{read:?}");
    // An image with no text at all.
    let mut blank = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut blank),
        &vec![255u8; 300 * 200],
        300,
        200,
        image::ExtendedColorType::L8,
    )
    .unwrap();
    let read = reader.read(&blank);
    assert!(read.unreadable.as_deref().unwrap_or_default().contains("未识别到文字"), "{read:?}");
}

#[tokio::test]
async fn a_bomb_uploaded_as_the_licence_asks_for_the_licence_again_and_health_names_the_models() {
    let app = spawn_app_with(AppOptions::with_shipped_models()).await;
    let health: Value = app.client.get(app.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["ocr"], true, "{health}");
    assert_eq!(health["encoder"], true, "{health}");
    for role in ["ocr-detection", "ocr-recognition", "ocr-direction", "encoder", "encoder-heads"] {
        assert!(health["models"][role].as_str().unwrap().starts_with("sha256:"), "{health}");
    }
    let fixture = Fixture::load("clean-catering-stsong");
    let id = app.create_ok(&fixture.form).await;
    let mut files = fixture.files.clone();
    files.retain(|(name, _)| !name.contains("营业执照"));
    files.push(("营业执照.png".into(), std::fs::read(repo().join("fixtures/photo/bomb/huge.png")).unwrap()));
    assert_eq!(app.upload(&id, &files).await.status(), 201);
    assert_eq!(app.submit(&id, "k").await.status(), 202);
    let application = app.wait_for_decisions(&id, 1).await;
    let decision = &application["decision"];
    assert_eq!(decision["outcome"], "needs_materials", "{decision}");
    assert_eq!(decision["missing_materials"], serde_json::json!(["business_licence"]));
    assert_eq!(decision["models"], health["models"], "the decision names the models that read it");
}

/// A scan so noisy that decimal points vanish (150 dpi grayscale, JPEG quality 62, noise σ 5.8,
/// skewed 1.5°, drawn with a substitute font; `tests/data/scan-decimal-points-lost.pdf`, the
/// report of `clean-catering-stsong`): 2.46 reads as 246, 32.5 as 325, 21.4 as 214, each beside
/// the report's own "合格" and a limit it would exceed. Neither rapidocr nor this OCR sees the
/// points. The reviewer must be told the readings are in doubt, not that three limits were exceeded.
#[test]
fn a_result_read_against_the_reports_own_verdict_is_a_question_for_a_person_not_an_exceeded_limit() {
    let (form, _, files, at) = load_package(&Fixture::load("clean-catering-stsong").dir);
    let index = files.iter().position(|f| f.name == "水质检测报告.pdf").unwrap();
    let scan = std::fs::read(repo().join("tests/data/scan-decimal-points-lost.pdf")).unwrap();
    let decision = decide_replacing(&form, &files, at, index, scan);
    assert_eq!(decision["outcome"], "needs_review", "{decision:#}");
    let findings = decision["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["result"] == "unknown"), "no rule may fail on a doubtful reading: {findings:#?}");
    for rule in ["water.las_limit", "water.tn_limit", "water.oil_limit"] {
        let finding = findings.iter().find(|f| f["rule"] == rule).unwrap_or_else(|| panic!("{rule} is not named: {findings:#?}"));
        assert!(finding["message"].as_str().unwrap().contains("人工核对"), "{finding}");
    }
    // The values the scan does show are read as before and need no one.
    assert_eq!(decision["fields"]["report.pollutants.cod"]["value"], 286.0);
    assert!(decision["fields"]["report.pollutants.cod"]["confidence"].as_f64().unwrap() >= 0.9);
}
