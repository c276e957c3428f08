//! The architecture's invariants, kept by a test (as rust-analyzer's tidy test keeps its own): the
//! pure layers do no I/O and name no framework, no source file grows past what a reader can hold,
//! and every file says what it owns.

use std::path::{Path, PathBuf};

use crate::helpers::repo;

/// Modules that must stay pure: no I/O, no runtime, no database, no models.
const PURE: &[&str] = &["src/domain", "src/rules", "src/decision"];
/// What the pure modules may not name outside `#[cfg(test)]`.
const FORBIDDEN: &[&str] = &[
    "axum",
    "sqlx",
    "candle",
    "tokio",
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "std::{",
    "Utc::now",
    "Local::now",
    "SystemTime",
];
const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files of `src/`, relative to the repository, sorted.
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(repo()).unwrap().to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

/// Modules declared `#[cfg(test)] mod name;`: their files are test code.
fn test_only_files(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        let dir = path.strip_suffix(".rs").map(str::to_string).unwrap_or_default();
        let dir = if dir.ends_with("/mod") || dir.ends_with("/lib") { dir.rsplit_once('/').unwrap().0.to_string() } else { dir };
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.windows(2) {
            if pair[0].trim() == "#[cfg(test)]" {
                if let Some(name) = pair[1].trim().strip_prefix("mod ").and_then(|m| m.strip_suffix(';')) {
                    out.push(format!("{dir}/{name}.rs"));
                }
            }
        }
    }
    out
}

/// The text of a file without its `#[cfg(test)] mod … { … }` blocks (test modules run to the end
/// of a file in this code base; anything after the first is test code).
fn outside_tests(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "#[cfg(test)]"
            && text[offset + line.len()..].trim_start().starts_with("mod ")
            && !text[offset + line.len()..].lines().next().unwrap_or_default().trim_end().ends_with(';')
        {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

fn names(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

#[test]
fn the_domain_rules_and_decision_do_no_io_and_name_no_framework() {
    let files = sources();
    let test_only = test_only_files(&files);
    let mut offences = Vec::new();
    let mut checked = Vec::new();
    for (path, text) in &files {
        let pure = PURE.iter().any(|p| path.starts_with(&format!("{p}/")) || path == &format!("{p}.rs"));
        if !pure || test_only.contains(path) {
            continue;
        }
        checked.push(path.as_str());
        let code: String = outside_tests(text).lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for word in FORBIDDEN {
            if names(&code, word) {
                offences.push(format!("{path} names `{word}`"));
            }
        }
    }
    // The check looked where it should: each pure module's root and its files, and no test file.
    for root in PURE {
        assert!(checked.contains(&format!("{root}.rs").as_str()), "{root}.rs was not checked: {checked:?}");
    }
    assert!(checked.contains(&"src/decision/assess.rs") && !checked.contains(&"src/decision/tests.rs"), "{checked:?}");
    assert!(offences.is_empty(), "pure modules must stay pure:\n{}", offences.join("\n"));
}

#[test]
fn no_source_file_passes_six_hundred_lines_and_each_says_what_it_owns() {
    let mut offences = Vec::new();
    for (path, text) in sources() {
        let n_lines = text.lines().count();
        if n_lines > MAX_LINES {
            offences.push(format!("{path}: {n_lines} lines (at most {MAX_LINES})"));
        }
        if !text.starts_with("//!") {
            offences.push(format!("{path}: does not open with a `//!` line saying what it owns"));
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// The checks above must be able to fail: a forbidden name in code is found; a longer word and a
/// test module are not.
#[test]
fn the_tidy_checks_see_what_they_look_for() {
    assert!(names("use std::fs::read;", "std::fs"));
    assert!(!names("let tokio_like = 1;", "tokio"));
    let text = "fn a() {}\n#[cfg(test)]\nmod tests {\n    use std::fs;\n}\n";
    assert_eq!(outside_tests(text), "fn a() {}\n");
    let declared = "#[cfg(test)]\nmod tests;\nfn b() { std::fs::read(\"x\"); }\n";
    assert!(names(outside_tests(declared), "std::fs"), "a declaration line ends no code");
}

/// A value marked `safe` in a template is written into the page unescaped: the one way an
/// applicant's text (a name, a file name) could become script on a reviewer's screen.
#[test]
fn no_template_writes_a_value_unescaped() {
    let dir = repo().join("templates");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        seen += 1;
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for marker in ["|safe", "|escape(\"none\")", "|e(\"none\")", "escape=\"none\"", "{%autoescape"] {
            assert!(!compact.contains(marker), "{}: `{marker}` writes a value unescaped", path.display());
        }
    }
    assert!(seen >= 10, "the templates were found");
}
