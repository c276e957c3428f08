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
