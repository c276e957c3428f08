//! `onewindow bench`: decides every fixture package repeatedly and prints latency percentiles.
//! A benchmark that prints numbers, never a timed test.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use chrono::NaiveDate;

use crate::pipeline::{Decider, InputFile};

struct Package {
    name: String,
    form: serde_json::Value,
    files: Vec<InputFile>,
    at: NaiveDate,
}

fn load(dir: &PathBuf) -> anyhow::Result<Vec<Package>> {
    let mut packages = Vec::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries.into_iter().filter(|e| e.path().is_dir()) {
        let path = entry.path();
        let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path.join("expected.json"))?)?;
        let form = serde_json::from_str(&std::fs::read_to_string(path.join("form.json"))?)?;
        let at = NaiveDate::parse_from_str(expected["at"].as_str().unwrap_or_default(), "%Y-%m-%d")?;
        let mut files = Vec::new();
        for name in expected["files"].as_array().into_iter().flatten().filter_map(|f| f.as_str()) {
            files.push(InputFile::new(name, std::fs::read(path.join(name))?));
        }
        packages.push(Package { name: entry.file_name().to_string_lossy().into(), form, files, at });
    }
    Ok(packages)
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let idx = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[idx]
}

pub fn run(fixtures: PathBuf, iterations: usize, decider: anyhow::Result<Decider>) -> anyhow::Result<()> {
    let decider = decider?;
    let packages = load(&fixtures)?;
    let service = "drainage-permit";
    let mut all_ms = Vec::new();
    let mut five_doc_ms = Vec::new();
    let started = Instant::now();
    for _ in 0..iterations.max(1) {
        for package in &packages {
            let t = Instant::now();
            decider.decide(service, &package.form, &package.files, package.at).with_context(|| package.name.clone())?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            all_ms.push(ms);
            if package.files.len() == 5 {
                five_doc_ms.push(ms);
            }
        }
    }
    let total_s = started.elapsed().as_secs_f64();
    all_ms.sort_by(f64::total_cmp);
    five_doc_ms.sort_by(f64::total_cmp);
    println!("packages: {} x {} iterations = {} decisions", packages.len(), iterations.max(1), all_ms.len());
    println!(
        "all applications:   p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms",
        percentile(&all_ms, 0.5),
        percentile(&all_ms, 0.95),
        all_ms.last().copied().unwrap_or(0.0)
    );
    println!(
        "five-document apps: p50 {:.1} ms  p95 {:.1} ms  (n = {})",
        percentile(&five_doc_ms, 0.5),
        percentile(&five_doc_ms, 0.95),
        five_doc_ms.len()
    );
    println!("throughput: {:.1} applications/s", all_ms.len() as f64 / total_s);
    Ok(())
}
