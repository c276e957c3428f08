//! `onewindow decide`: exactly one JSON object on stdout, exit 0 whatever the outcome; usage
//! errors exit non-zero with a one-line error on stderr (CONTRACT.md).

use std::process::Command;

use serde_json::Value;

use crate::helpers::{onewindow_exe, repo, Fixture};

fn decide(args: &[&str]) -> std::process::Output {
    Command::new(onewindow_exe()).arg("decide").args(args).current_dir(repo()).output().unwrap()
}

#[test]
fn prints_one_decision_and_exits_zero_for_any_outcome() {
    for name in ["clean-catering-stsong", "cod-over-b-limit", "truncated-report-pdf"] {
        let fixture = Fixture::load(name);
        let form = fixture.dir.join("form.json");
        let files: Vec<String> = fixture.files.iter().map(|(n, _)| fixture.dir.join(n).to_string_lossy().to_string()).collect();
        let at = fixture.expected["at"].as_str().unwrap();
        let mut args = vec!["--service", "drainage-permit", "--form", form.to_str().unwrap(), "--at", at];
        args.extend(files.iter().map(String::as_str));
        let output = decide(&args);
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let decision: Value = serde_json::from_slice(&output.stdout).expect("stdout is exactly one JSON object");
        assert_eq!(decision["outcome"], fixture.expected["outcome"], "{name}");
    }
}

#[test]
fn usage_errors_exit_non_zero_with_one_line() {
    let fixture = Fixture::load("clean-catering-stsong");
    let form = fixture.dir.join("form.json");
    let licence = fixture.dir.join("营业执照.pdf");
    let bad_json = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad_json.path(), "{not json").unwrap();
    let incomplete = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(incomplete.path(), r#"{"applicant_name": "x"}"#).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--service", "no-such-service", "--form", form.to_str().unwrap(), licence.to_str().unwrap()], "unknown service"),
        (vec!["--service", "drainage-permit", "--form", bad_json.path().to_str().unwrap()], "not valid JSON"),
        (vec!["--service", "drainage-permit", "--form", incomplete.path().to_str().unwrap()], "credit_code"),
        (vec!["--service", "drainage-permit", "--form", form.to_str().unwrap(), "/no/such/file.pdf"], "cannot open"),
        (vec!["--service", "drainage-permit", "--form", form.to_str().unwrap(), "--at", "yesterday"], "--at"),
        (vec!["--form", form.to_str().unwrap()], "--service"),
    ];
    for (args, expected) in cases {
        let output = decide(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(output.stdout.is_empty(), "nothing on stdout for {args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "{stderr} should mention {expected}");
    }
}

#[test]
fn a_broken_rules_directory_is_an_error_not_a_weaker_decision() {
    let rules = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("rules"), rules.path());
    let path = rules.path().join("drainage-permit.toml");
    let text =
        std::fs::read_to_string(&path).unwrap().replace("report.pollutants.cod <= limits.cod", "report.pollutants.codd <= limits.cod");
    std::fs::write(&path, text).unwrap();
    let fixture = Fixture::load("clean-catering-stsong");
    let form = fixture.dir.join("form.json");
    let output = decide(&["--service", "drainage-permit", "--form", form.to_str().unwrap(), "--rules-dir", rules.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("report.pollutants.codd") && stderr.contains("water.cod_limit"), "{stderr}");
}

pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
