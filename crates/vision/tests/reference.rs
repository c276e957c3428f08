//! The networks run by the project's executor against onnxruntime's outputs on the same inputs
//! (`tools/ocr_reference.py` wrote them from the registry package's own pipeline), and the whole
//! pipeline against the reference pipeline's text on a rendered licence page.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use onewindow_vision::graph::Graph;
use onewindow_vision::{Ocr, RgbImage};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn graph(stem: &str) -> Graph {
    let dir = root().join("models/ocr");
    Graph::load(&dir.join(format!("{stem}.json")), &dir.join(format!("{stem}.safetensors"))).unwrap()
}

fn reference() -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(root().join("tests/data/ocr-reference.safetensors"), &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    a.sub(b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn detector_matches_onnxruntime_on_a_window_of_a_licence_page() {
    let r = reference();
    let out = graph("det").run(r["det.input"].clone()).unwrap().remove(0);
    let diff = max_abs_diff(&out, &r["det.output"]);
    assert!(diff < 1e-3, "det max abs difference {diff}");
}

#[test]
fn direction_classifier_matches_onnxruntime_on_an_upright_and_a_turned_line() {
    let r = reference();
    let out = graph("cls").run(r["cls.input"].clone()).unwrap().remove(0);
    let diff = max_abs_diff(&out, &r["cls.output"]);
    assert!(diff < 1e-3, "cls max abs difference {diff}");
}

#[test]
fn recogniser_picks_the_same_character_at_every_step_as_onnxruntime() {
    let r = reference();
    let probs = graph("rec").run(r["rec.input"].clone()).unwrap().remove(0);
    let argmax: Vec<Vec<i64>> = probs.argmax(2).unwrap().to_dtype(candle_core::DType::I64).unwrap().to_vec2().unwrap();
    assert_eq!(argmax, r["rec.argmax"].to_vec2::<i64>().unwrap());
    let maxprob = probs.max(2).unwrap();
    let diff = max_abs_diff(&maxprob, &r["rec.maxprob"]);
    assert!(diff < 1e-3, "rec max-probability difference {diff}");
}

#[test]
fn reads_the_licence_page_like_the_reference_pipeline() {
    let ocr = Ocr::load(&root().join("models/ocr")).unwrap();
    let png = image::open(root().join("tests/data/licence-page.png")).unwrap().to_rgb8();
    let page = RgbImage::new(png.width() as usize, png.height() as usize, png.into_raw()).unwrap();
    let lines = ocr.read(&page).unwrap();
    let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("tests/data/ocr-reference.json")).unwrap()).unwrap();
    let expected: Vec<&str> = json["page_result"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    let same = expected.iter().filter(|e| text.contains(e)).count();
    eprintln!("ours: {text:#?}");
    assert!(
        same * 10 >= expected.len() * 9,
        "only {same} of {} reference lines read identically\nours: {text:#?}\nreference: {expected:#?}",
        expected.len()
    );
    for known in ["营业执照", "统一社会信用代码92320214MA1NB3C47B"] {
        assert!(text.contains(&known), "{known} not read: {text:#?}");
    }
    assert!(lines.iter().all(|l| l.confidence >= 0.5 && l.confidence <= 1.0));
}

#[test]
fn a_page_over_its_budget_is_refused_before_the_recogniser_runs() {
    let mut ocr = Ocr::load(&root().join("models/ocr")).unwrap();
    let png = image::open(root().join("tests/data/licence-page.png")).unwrap().to_rgb8();
    let page = RgbImage::new(png.width() as usize, png.height() as usize, png.into_raw()).unwrap();
    // The licence page has a few dozen text boxes: a limit of 5 refuses it, naming both counts.
    ocr.options.max_pieces = 5;
    let error = ocr.read(&page).unwrap_err();
    match error.downcast_ref::<onewindow_vision::OverBudget>() {
        Some(onewindow_vision::OverBudget::TooManyPieces { found, limit }) => {
            assert!(*found > 5, "{found}");
            assert_eq!(*limit, 5);
        }
        other => panic!("{other:?}: {error:#}"),
    }
    // A budget already spent stops the reading at its first check.
    ocr.options.max_pieces = 1200;
    ocr.options.page_budget = Some(std::time::Duration::ZERO);
    let error = ocr.read(&page).unwrap_err();
    assert!(
        matches!(error.downcast_ref::<onewindow_vision::OverBudget>(), Some(onewindow_vision::OverBudget::TooSlow { .. })),
        "{error:#}"
    );
}
