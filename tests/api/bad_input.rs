//! Bad input gets a clear answer and loses nothing: rejected at upload with 413/415, or stored and
//! reported as unreadable with a reason; the application survives and nothing stalls.

use std::io::Write;
use std::time::{Duration, Instant};

use onewindow::config::LimitsConfig;
use onewindow::reading::{ReadLimits, Reader};
use serde_json::Value;

use crate::helpers::{finding_rules, spawn_app, spawn_app_with, AppOptions, Fixture};

#[tokio::test]
async fn empty_and_non_document_files_are_rejected_with_415() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let id = app.create_ok(&fixture.form).await;
    for (name, bytes) in
        [("empty.pdf", Vec::new()), ("notes.pdf", "这是一个文本文件，不是PDF".as_bytes().to_vec()), ("x.exe", b"MZ\x90\x00".to_vec())]
    {
        let response = app.upload(&id, &[(name.to_string(), bytes)]).await;
        assert_eq!(response.status(), 415, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error_type"], "unsupported_media_type");
        assert!(body["error"].as_str().unwrap().contains(name));
    }
    // One bad file in a batch: nothing of the batch is stored.
    let mut batch = fixture.files.clone();
    batch.push(("bad.pdf".into(), b"plain text".to_vec()));
    assert_eq!(app.upload(&id, &batch).await.status(), 415);
    let application = app.get_application(&id).await;
    assert_eq!(application["documents"].as_array().unwrap().len(), 0);
    assert_eq!(application["state"], "draft");
}

#[tokio::test]
async fn files_over_the_limits_are_rejected_with_413() {
    let limits = LimitsConfig { max_file_bytes: 64 * 1024, max_application_bytes: 96 * 1024, ..LimitsConfig::default() };
    let app = spawn_app_with(AppOptions { limits, ..AppOptions::default() }).await;
    let fixture = Fixture::load("clean-catering-stsong");
    let id = app.create_ok(&fixture.form).await;
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(65 * 1024, b' ');
    let response = app.upload(&id, &[("big.pdf".into(), big)]).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["error_type"], "payload_too_large");

    let mut medium = b"%PDF-1.4\n".to_vec();
    medium.resize(60 * 1024, b' ');
    assert_eq!(app.upload(&id, &[("a.pdf".into(), medium.clone())]).await.status(), 201);
    let response = app.upload(&id, &[("b.pdf".into(), medium)]).await;
    assert_eq!(response.status(), 413, "the application's total is over its limit");
    assert_eq!(app.get_application(&id).await["documents"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn corrupt_and_encrypted_pdfs_are_unreadable_documents_and_the_case_asks_for_materials() {
    let app = spawn_app().await;
    for name in ["truncated-report-pdf", "encrypted-licence-pdf"] {
        let fixture = Fixture::load(name);
        let id = app.create_ok(&fixture.form).await;
        assert_eq!(app.upload(&id, &fixture.files).await.status(), 201, "{name}: stored, to be reported as unreadable");
        app.submit(&id, "k").await;
        let application = app.wait_for_decisions(&id, 1).await;
        let decision = &application["decision"];
        assert_eq!(decision["outcome"], "needs_materials", "{name}");
        assert_eq!(decision["missing_materials"], fixture.expected["missing_materials"], "{name}");
        assert!(finding_rules(decision).contains(&"documents.unreadable".to_string()));
        let unreadable: Vec<&Value> = decision["documents"].as_array().unwrap().iter().filter(|d| d["readable"] == false).collect();
        assert_eq!(unreadable.len(), 1, "{name}");
        assert!(unreadable[0]["reason"].as_str().unwrap().len() > 3, "a reason is given");
        // The same application takes a replacement.
        assert_eq!(application["state"], "needs_materials");
    }
}

/// A small PDF whose content stream inflates to `inflated_mib` MiB of spaces.
fn decompression_bomb(inflated_mib: usize) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..inflated_mib {
        encoder.write_all(&chunk).unwrap();
    }
    let stream = encoder.finish().unwrap();
    let mut pdf = Vec::new();
    let mut offsets = Vec::new();
    pdf.extend_from_slice(b"%PDF-1.4\n");
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_vec(),
        [format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", stream.len()).into_bytes(), stream, b"\nendstream".to_vec()].concat(),
    ];
    for (idx, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", idx + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    pdf
}

#[tokio::test]
async fn a_decompression_bomb_is_contained_and_other_requests_are_served_meanwhile() {
    let limits = LimitsConfig { pdf_memory_mib: 192, ..LimitsConfig::default() };
    let app = spawn_app_with(AppOptions { limits, ..AppOptions::default() }).await;
    let fixture = Fixture::load("clean-catering-stsong");
    let id = app.create_ok(&fixture.form).await;
    let mut files = fixture.files.clone();
    files.retain(|(name, _)| !name.contains("水质"));
    let bomb = decompression_bomb(400);
    assert!(bomb.len() < 2 * 1024 * 1024, "small on disk: {}", bomb.len());
    files.push(("水质检测报告.pdf".into(), bomb));
    assert_eq!(app.upload(&id, &files).await.status(), 201);
    app.submit(&id, "k").await;
    // While the bomb is being read, the API keeps answering promptly.
    for _ in 0..5 {
        let started = Instant::now();
        let response = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(5), "health answered in {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let application = app.wait_for_decisions(&id, 1).await;
    let decision = &application["decision"];
    assert_eq!(decision["outcome"], "needs_materials");
    let bomb_doc = decision["documents"].as_array().unwrap().iter().find(|d| d["file"] == "水质检测报告.pdf").unwrap();
    assert_eq!(bomb_doc["readable"], false, "{bomb_doc}");
    assert_eq!(decision["missing_materials"], serde_json::json!(["water_quality_report"]));
}

#[test]
fn a_reading_that_overruns_its_time_limit_is_unreadable_not_a_hang() {
    let limits = ReadLimits { pdf_timeout: Duration::from_millis(1), ..ReadLimits::default() };
    let reader = Reader::new(limits, crate::helpers::onewindow_exe());
    let fixture = Fixture::load("clean-catering-stsong");
    let started = Instant::now();
    let outcome = reader.read(&fixture.files[0].1);
    assert!(!outcome.is_readable());
    assert!(outcome.unreadable.unwrap().contains("超时"));
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
}

/// Regression (review of 2026-11-28): when the reader process cannot start, that is the machine's
/// failure, not the applicant's: no decision is made on it (the worker retries), and nobody is told
/// their file is unreadable.
#[test]
fn a_reader_that_cannot_start_is_an_error_not_an_unreadable_document() {
    use onewindow::pipeline::{InputFile, PipelineError};
    let rules = onewindow::rules::RuleSet::load_dir(&crate::helpers::repo().join("rules")).unwrap();
    let limits = onewindow::config::LimitsConfig::default();
    let pipeline = onewindow::app::pipeline(std::sync::Arc::new(rules), &limits, "/nonexistent/onewindow".into(), Default::default());
    let fixture = Fixture::load("clean-catering-stsong");
    let files: Vec<InputFile> = fixture.files.iter().map(|(n, b)| InputFile::new(n.clone(), b.clone())).collect();
    let result = pipeline.run("drainage-permit", &fixture.form, &files, fixture.at());
    assert!(matches!(result, Err(PipelineError::System(_))), "{result:?}");
}

#[tokio::test]
async fn a_full_decision_queue_answers_429_with_retry_after_and_keeps_the_draft() {
    let limits = LimitsConfig { max_queued_decisions: 1, ..LimitsConfig::default() };
    // No workers: what is submitted stays queued.
    let app = spawn_app_with(AppOptions { limits, workers: 0, ..AppOptions::default() }).await;
    let fixture = Fixture::load("clean-catering-stsong");
    let first = app.create_ok(&fixture.form).await;
    let second = app.create_ok(&fixture.form).await;
    for id in [&first, &second] {
        assert_eq!(app.upload(id, &fixture.files).await.status(), 201);
    }
    assert_eq!(app.submit(&first, "a").await.status(), 202);
    let refused = app.submit(&second, "b").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "30");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error_type"], "overloaded");
    // Nothing was lost: the refused application is still a draft with its documents.
    let application = app.get_application(&second).await;
    assert_eq!(application["state"], "draft");
    assert_eq!(application["documents"].as_array().unwrap().len(), fixture.files.len());
}
