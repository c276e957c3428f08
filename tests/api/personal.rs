//! The personal services' fixture packages (`fixtures/flexible-employment/`, `fixtures/retirement/`):
//! ID cards photographed front and back, licences and contribution records as PDFs, clean and
//! defective, each decided and compared with its expected decision.

use serde_json::Value;

use crate::helpers::{finding_rules, repo};
use crate::photos::decide_dir;

fn packages(service_dir: &str) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(repo().join("fixtures").join(service_dir))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn check_all(service_dir: &str) {
    let dirs = packages(service_dir);
    assert!(dirs.len() >= 2, "{service_dir}: a clean and a defective package at least");
    let mut problems = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (decision, expected) = decide_dir(&dir);
        if decision["outcome"] != expected["outcome"] {
            problems.push(format!(
                "{name}: outcome {} (expected {}); findings {}",
                decision["outcome"], expected["outcome"], decision["findings"]
            ));
        }
        let kinds: Vec<&Value> = decision["documents"].as_array().unwrap().iter().map(|d| &d["kind"]).collect();
        let expected_kinds: Vec<&Value> = expected["document_kinds"].as_array().unwrap().iter().collect();
        if kinds != expected_kinds {
            problems.push(format!("{name}: kinds {kinds:?} (expected {expected_kinds:?})"));
        }
        let rules = finding_rules(&decision);
        for rule in expected["failed_rules"].as_array().unwrap() {
            let found = decision["findings"].as_array().unwrap().iter().any(|f| f["rule"] == *rule && f["result"] == "fail");
            if !found {
                problems.push(format!("{name}: {rule} did not fail (findings {rules:?})"));
            }
        }
        if expected["outcome"] == "issued" && !rules.is_empty() {
            problems.push(format!("{name}: issued with findings {rules:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_flexible_employment_package_is_decided_as_expected() {
    check_all("flexible-employment");
}

#[test]
fn every_retirement_package_is_decided_as_expected() {
    check_all("retirement");
}

#[tokio::test]
async fn the_review_queue_shows_a_person_masked_and_never_their_full_id_number_or_phone() {
    use onewindow::domain::user::Role;
    // The ID card is uploaded as photos: the shipped OCR reads them.
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions::with_shipped_models()).await;
    let dir = repo().join("fixtures/flexible-employment/expired-id-card");
    let form: Value = serde_json::from_slice(&std::fs::read(dir.join("form.json")).unwrap()).unwrap();
    let created = app.create_application("flexible-employment", &form).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let files: Vec<(String, Vec<u8>)> =
        ["身份证正面.jpg", "身份证反面.jpg"].iter().map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap())).collect();
    assert_eq!(app.upload(&id, &files).await.status(), 201);
    assert_eq!(app.submit(&id, "k").await.status(), 202);
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["decision"]["outcome"], "needs_review");

    let reviewer = crate::helpers::add_user(&app.state, Role::Reviewer).await;
    let response = app.client.get(app.url("/api/v1/review/queue")).bearer_auth(&reviewer).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(!body.contains("320214199009090538") && !body.contains("13912345678") && !body.contains("李建华"), "{body}");
    let queue: Value = serde_json::from_str(&body).unwrap();
    let entry = queue["queue"].as_array().unwrap().iter().find(|e| e["id"] == id.as_str()).expect("the case is queued");
    assert_eq!(entry["applicant"]["id_number"], "320214********0538");
    assert_eq!(entry["applicant"]["contact_phone"], "139****5678");
    assert_eq!(entry["applicant"]["name"], "李**");
    // The case itself, for the reviewer who works it, has the form in full.
    let case = app.client.get(app.url(&format!("/api/v1/applications/{id}"))).bearer_auth(&reviewer).send().await.unwrap();
    let case: Value = case.json().await.unwrap();
    assert_eq!(case["form"]["id_number"], "320214199009090538");
}
