//! `onewindow bench`: decides every fixture package repeatedly and prints latency percentiles.
//! A benchmark that prints numbers, never a timed test.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use chrono::NaiveDate;

use crate::pipeline::{InputFile, Pipeline};

struct Package {
    name: String,
    /// From expected.json's `service`; the drainage permit when it names none.
    service: String,
    form: serde_json::Value,
    files: Vec<InputFile>,
    at: NaiveDate,
}

fn load(dir: &PathBuf) -> anyhow::Result<Vec<Package>> {
    let mut packages = Vec::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.path());
    // Directories without expected.json (loose images, bombs) are not packages.
    for entry in entries.into_iter().filter(|e| e.path().join("expected.json").is_file()) {
        let path = entry.path();
        let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path.join("expected.json"))?)?;
        let form = serde_json::from_str(&std::fs::read_to_string(path.join("form.json"))?)?;
        let at = NaiveDate::parse_from_str(expected["at"].as_str().unwrap_or_default(), "%Y-%m-%d")?;
        let mut files = Vec::new();
        for name in expected["files"].as_array().into_iter().flatten().filter_map(|f| f.as_str()) {
            files.push(InputFile::new(name, std::fs::read(path.join(name))?));
        }
        let service = expected["service"].as_str().unwrap_or("drainage-permit").to_string();
        packages.push(Package { name: entry.file_name().to_string_lossy().into(), service, form, files, at });
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

pub fn run(fixtures: PathBuf, iterations: usize, pipeline: anyhow::Result<Pipeline>) -> anyhow::Result<()> {
    let pipeline = pipeline?;
    let packages = load(&fixtures)?;
    let mut all_ms = Vec::new();
    let mut five_doc_ms = Vec::new();
    let started = Instant::now();
    for _ in 0..iterations.max(1) {
        for package in &packages {
            let t = Instant::now();
            pipeline.run(&package.service, &package.form, &package.files, package.at).with_context(|| package.name.clone())?;
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
    println!("peak resident memory: {:.0} MiB", peak_rss_mib());
    Ok(())
}

/// The process's peak resident set (VmHWM), in MiB; 0 where /proc is not available.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One OCR input of the benchmark: a photo, or the page image of a scanned PDF.
struct OcrInput {
    label: &'static str,
    path: PathBuf,
    /// The image bytes rapidocr is given (for a scan: its page image).
    image: Vec<u8>,
    /// What onewindow reads (for a scan: the whole PDF, page extraction included).
    document: Vec<u8>,
}

/// `onewindow bench --ocr`: OCR of a licence photo and of a one-page scan by onewindow, and the same
/// images through rapidocr-onnxruntime (Python, onnxruntime) in the same run when it is installed.
pub fn run_ocr(
    photo_dir: PathBuf,
    iterations: usize,
    load_reader: impl FnOnce() -> anyhow::Result<crate::reading::Reader>,
) -> anyhow::Result<()> {
    let before_models = peak_rss_mib();
    let loaded = Instant::now();
    let reader = load_reader()?;
    println!(
        "models loaded in {:.0} ms (peak resident {:.0} MiB before, {:.0} MiB after)",
        loaded.elapsed().as_secs_f64() * 1000.0,
        before_models,
        peak_rss_mib()
    );
    let photo = photo_dir.join("clean-catering-stsong/营业执照.jpg");
    let scan = photo_dir.join("clean-catering-stsong/水质检测报告.pdf");
    let scan_bytes = std::fs::read(&scan).with_context(|| format!("reading {}", scan.display()))?;
    let page = crate::reading::pdf::scan_page_images(&scan_bytes).into_iter().next().context("the scan fixture holds no page image")?;
    let inputs = [
        OcrInput {
            label: "licence photo",
            path: photo.clone(),
            image: std::fs::read(&photo).with_context(|| format!("reading {}", photo.display()))?,
            document: std::fs::read(&photo)?,
        },
        OcrInput { label: "one-page scan", path: scan, image: page.bytes, document: scan_bytes },
    ];
    let scratch = tempfile::tempdir()?;
    let mut rapid_args = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let file = scratch.path().join(format!("input-{i}.jpg"));
        std::fs::write(&file, &input.image)?;
        rapid_args.push(file);
    }
    let rapid = rapidocr(&rapid_args, iterations);
    for (input, rapid) in inputs.iter().zip(rapid.iter().map(Some).chain(std::iter::repeat(None))) {
        let mut ms = Vec::new();
        let mut outcome = None;
        for _ in 0..iterations.max(1) {
            let t = Instant::now();
            outcome = Some(reader.read(&input.document));
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let outcome = outcome.expect("at least one iteration");
        let ours: String = outcome.lines.iter().map(|l| l.text.replace(' ', "")).collect();
        println!(
            "{:<14} onewindow   p50 {:>7.0} ms  p95 {:>7.0} ms  {} lines ({})",
            input.label,
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            outcome.lines.len(),
            input.path.display()
        );
        match rapid {
            Some(r) => {
                let same = r.lines.iter().filter(|l| ours.contains(&l.replace(' ', ""))).count();
                println!(
                    "{:<14} rapidocr    p50 {:>7.0} ms  p95 {:>7.0} ms  {} pieces, {} of them read identically by onewindow; onewindow/rapidocr time {:.2}x",
                    input.label,
                    r.p50_ms,
                    r.p95_ms,
                    r.lines.len(),
                    same,
                    percentile(&ms, 0.5) / r.p50_ms.max(1e-9)
                );
                for piece in r.lines.iter().filter(|l| !ours.contains(&l.replace(' ', ""))) {
                    println!("{:<14} rapidocr    read, onewindow did not: {piece}", input.label);
                }
            }
            None => println!("{:<14} rapidocr    not measured (python3 with rapidocr-onnxruntime==1.4.4 not installed)", input.label),
        }
    }
    println!("peak resident memory: {:.0} MiB", peak_rss_mib());
    Ok(())
}

/// `onewindow bench --encoder`: how long the understanding stage (keyword and encoder readings of
/// each document's kind, then its fields) takes for a five-document application, its documents read
/// once beforehand; and the embedding of one business scope for the category.
pub fn run_encoder(
    package_dir: PathBuf,
    iterations: usize,
    rules: crate::rules::RuleSet,
    load_models: impl FnOnce() -> anyhow::Result<(crate::reading::Reader, Option<crate::understanding::encoded::EncoderReader>)>,
) -> anyhow::Result<()> {
    let before_models = peak_rss_mib();
    let loaded = Instant::now();
    let (reader, encoder) = load_models()?;
    let encoder = encoder.context("the encoder did not load")?;
    println!(
        "models loaded in {:.0} ms (peak resident {:.0} MiB before, {:.0} MiB after)",
        loaded.elapsed().as_secs_f64() * 1000.0,
        before_models,
        peak_rss_mib()
    );
    let understander = crate::understanding::Understander::new(&rules, Some(encoder));
    let package = load(&package_dir.parent().map(PathBuf::from).unwrap_or_default())?
        .into_iter()
        .find(|p| package_dir.ends_with(&p.name))
        .with_context(|| format!("{} is not a fixture package", package_dir.display()))?;
    let documents: Vec<Vec<crate::reading::TextLine>> = package.files.iter().map(|f| reader.read(&f.bytes).lines).collect();
    let mut ms = Vec::new();
    let mut kinds = Vec::new();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        kinds = documents.iter().map(|lines| understander.understand(lines).classification).collect();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "understanding of {} documents ({}): p50 {:.0} ms  p95 {:.0} ms  (n = {})",
        documents.len(),
        package.name,
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms.len()
    );
    for (file, kind) in package.files.iter().zip(&kinds) {
        println!("  {:<28} {} {:.3}", file.name, kind.kind, kind.confidence);
    }
    let mut ms = Vec::new();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        understander.infer_category(&rules.categories, "许可项目：餐饮服务；食品经营。一般项目：外卖递送服务", "无锡市新吴区张记餐饮店");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    println!("category from one business scope: p50 {:.0} ms  p95 {:.0} ms", percentile(&ms, 0.5), percentile(&ms, 0.95));
    println!("peak resident memory: {:.0} MiB", peak_rss_mib());
    Ok(())
}

#[derive(serde::Deserialize)]
struct RapidResult {
    p50_ms: f64,
    p95_ms: f64,
    lines: Vec<String>,
}

/// Run `tools/bench_rapidocr.py` on the images; empty when Python or the package is missing.
fn rapidocr(images: &[PathBuf], iterations: usize) -> Vec<RapidResult> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/bench_rapidocr.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg("--iterations")
        .arg(iterations.max(1).to_string())
        .args(images)
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
        }
        _ => Vec::new(),
    }
}

/// `bench --audit`: appends per second (a thousand a transaction while filling a generated log of
/// each size in `sizes`, then one a transaction, as the service writes, onto the full log), then
/// the latency of inclusion and consistency proofs read from the stored tree (the store's reads and
/// the proof's hashing, without HTTP; the tree just written, so warm in the page cache). On a fresh
/// SQLite file per size, or on `database_url`, which must be empty (one size, then).
pub fn run_audit(sizes: &[u64], database_url: Option<&str>) -> anyhow::Result<()> {
    use crate::audit::merkle;
    use crate::storage::AuditLog as _;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        println!("profile: {}", if cfg!(debug_assertions) { "dev (unoptimised; a release build is faster)" } else { "release" });
        for &size in sizes {
            anyhow::ensure!(size >= 4_000, "a log of at least 4000 entries, not {size}");
            let dir = tempfile::tempdir()?;
            let store = match database_url {
                Some(url) => {
                    anyhow::ensure!(sizes.len() == 1, "one size at a time on a given database");
                    let store = crate::storage::sql::SqlStore::connect(url).await?;
                    let size = store.tree_size().await?;
                    anyhow::ensure!(size == 0, "the database's audit log holds {size} entries: the benchmark needs an empty database");
                    store
                }
                None => crate::storage::sql::SqlStore::open_in(dir.path()).await?,
            };
            // Filled a thousand a transaction; then 2000 more one a transaction, as the service
            // writes, onto the log of that size.
            let single = 2_000;
            let started = Instant::now();
            store.bench_appends(size - single, 1_000).await?;
            let batched = (size - single) as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let started = Instant::now();
            store.bench_appends(single, 1).await?;
            let one_each = single as f64 / started.elapsed().as_secs_f64();
            let n = store.tree_size().await?;
            anyhow::ensure!(n == size, "the tree holds {n} leaves, not {size}");
            let mut inclusion = Vec::new();
            let mut consistency = Vec::new();
            let mut state = 0x9e37_79b9_7f4a_7c15_u64;
            for _ in 0..500 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let index = state % n;
                let started = Instant::now();
                let needed = merkle::NeededHashes::of(|s| merkle::inclusion_proof(s, index, n).map(|_| ()));
                let fetched = store.tree_hashes(&needed).await?;
                let proof = merkle::inclusion_proof(&fetched, index, n).map_err(|e| anyhow::anyhow!("{e}"))?;
                inclusion.push(started.elapsed().as_secs_f64() * 1e3);
                anyhow::ensure!(proof.is_some(), "no proof of {index}");
                let first = (index + 1).min(n);
                let started = Instant::now();
                let needed = merkle::NeededHashes::of(|s| merkle::consistency_proof(s, first, n).map(|_| ()));
                let fetched = store.tree_hashes(&needed).await?;
                merkle::consistency_proof(&fetched, first, n).map_err(|e| anyhow::anyhow!("{e}"))?;
                consistency.push(started.elapsed().as_secs_f64() * 1e3);
            }
            inclusion.sort_by(f64::total_cmp);
            consistency.sort_by(f64::total_cmp);
            let db_mib = match database_url {
                Some(_) => store.size_bytes().await?,
                None => std::fs::metadata(dir.path().join("onewindow.db")).map(|m| m.len()).unwrap_or(0),
            } as f64
                / 1_048_576.0;
            println!(
                "audit log of {size} entries on {} ({db_mib:.0} MiB): appends {one_each:.0}/s one a transaction, {batched:.0}/s a thousand a transaction; \
                 inclusion proof p50 {:.3} ms p95 {:.3} ms; consistency proof p50 {:.3} ms p95 {:.3} ms (500 each, from the stored tree)",
                if database_url.is_some() { "Postgres" } else { "SQLite" },
                percentile(&inclusion, 0.5),
                percentile(&inclusion, 0.95),
                percentile(&consistency, 0.5),
                percentile(&consistency, 0.95)
            );
        }
        Ok(())
    })
}
