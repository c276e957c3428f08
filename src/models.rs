//! The local models: `models/MANIFEST.toml` pins every file by SHA-256 with the registry package and
//! version it came from, its licence and the command that reproduces it. Nothing is fetched at run
//! time; a missing or altered file stops the service at startup with the file named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{bail, Context};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::understanding::encoded::{Heads, HEADS_FORMAT};

/// One `[[model]]` table of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub package: String,
    pub version: String,
    pub licence: String,
    pub command: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Manifest {
    model: Vec<ModelFile>,
}

/// The manifest's files, each checked: present, of the pinned size and SHA-256.
#[derive(Clone)]
pub struct VerifiedModels {
    pub dir: PathBuf,
    pub files: Vec<ModelFile>,
    /// Each file's contents as they were hashed. The loaders take these, never a second read of
    /// the file, which could have been replaced after it was checked.
    contents: BTreeMap<String, Arc<Vec<u8>>>,
}

impl std::fmt::Debug for VerifiedModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedModels").field("dir", &self.dir).field("files", &self.files).finish()
    }
}

impl VerifiedModels {
    /// `role → sha256:<hex>` of every weights file, as recorded in each decision. A role with several
    /// files (graph and weights) is named by its weights, the file whose bytes decide the outputs;
    /// the graph's hash is in the manifest and checked at startup all the same.
    pub fn digests(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for f in &self.files {
            if f.path.ends_with(".safetensors") || !out.contains_key(&f.role) {
                out.insert(f.role.clone(), format!("sha256:{}", f.sha256));
            }
        }
        out
    }

    pub fn path_of(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The checked contents of the pinned file at `relative`.
    pub fn bytes_of(&self, relative: &str) -> anyhow::Result<&[u8]> {
        match self.contents.get(relative) {
            Some(bytes) => Ok(bytes.as_slice()),
            None => bail!("{relative} is not pinned in {}", self.dir.join("MANIFEST.toml").display()),
        }
    }

    /// The checked contents of the files under `folder`, by their names there: what a loader reads.
    pub fn reader<'a>(&'a self, folder: &'a str) -> impl Fn(&str) -> anyhow::Result<&'a [u8]> + 'a {
        move |name| self.bytes_of(&format!("{folder}/{name}"))
    }
}

/// Read `MANIFEST.toml` in `dir` and check every file it lists.
pub fn verify(dir: &Path) -> anyhow::Result<VerifiedModels> {
    let manifest_path = dir.join("MANIFEST.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("model manifest {} is missing: the models directory is incomplete", manifest_path.display()))?;
    let manifest: Manifest = toml::from_str(&text).with_context(|| format!("model manifest {} is not valid", manifest_path.display()))?;
    if manifest.model.is_empty() {
        bail!("model manifest {} lists no models", manifest_path.display());
    }
    let mut contents = BTreeMap::new();
    for file in &manifest.model {
        let path = dir.join(&file.path);
        if file.path.contains("..") || Path::new(&file.path).is_absolute() {
            bail!("model manifest names {} outside the models directory", file.path);
        }
        let bytes = std::fs::read(&path)
            .with_context(|| format!("model file {} is missing (pinned in {})", path.display(), manifest_path.display()))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if digest != file.sha256 || bytes.len() as u64 != file.bytes {
            bail!(
                "model file {} does not match its pin: sha256 {digest} ({} bytes), manifest says {} ({} bytes); reproduce it with `{}`",
                path.display(),
                bytes.len(),
                file.sha256,
                file.bytes,
                file.command
            );
        }
        contents.insert(file.path.clone(), Arc::new(bytes));
    }
    Ok(VerifiedModels { dir: dir.to_path_buf(), files: manifest.model, contents })
}

/// The models directory of the checkout when run from one, else `./models`.
pub fn default_models_dir() -> PathBuf {
    let local = PathBuf::from("models");
    if local.join("MANIFEST.toml").is_file() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// A counting semaphore for blocking threads: at most `permits` OCR runs at once, since each run
/// already uses every core for its matrix products and more at once only adds memory.
#[derive(Debug)]
pub struct Permits {
    free: Mutex<usize>,
    returned: Condvar,
}

pub struct Permit<'a>(&'a Permits);

impl Permits {
    pub fn new(permits: usize) -> Self {
        Self { free: Mutex::new(permits.max(1)), returned: Condvar::new() }
    }

    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.returned.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.returned.notify_one();
    }
}

/// The OCR networks, loaded once, shared by every reader thread.
pub struct OcrEngine {
    pub ocr: vision::Ocr,
    pub permits: Permits,
    pub digests: BTreeMap<String, String>,
}

impl std::fmt::Debug for OcrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcrEngine").field("digests", &self.digests).finish()
    }
}

impl crate::inference::Ocr for OcrEngine {
    fn read(&self, image: &vision::RgbImage) -> Result<Vec<vision::TextLine>, crate::inference::InferenceError> {
        Ok(self.read_turned(image)?.0)
    }

    fn read_turned(&self, image: &vision::RgbImage) -> Result<(Vec<vision::TextLine>, vision::Turn), crate::inference::InferenceError> {
        let _permit = self.permits.acquire();
        self.ocr.read_turned(image).map_err(|e| match e.downcast_ref::<vision::OverBudget>() {
            // A page over its budget is the document's problem, said in the applicant's words.
            Some(vision::OverBudget::TooManyPieces { found, limit }) => crate::inference::InferenceError(format!(
                "页面文字块过多（{found}个，单页上限{limit}个），不像是证照或报告的照片，请上传清晰的材料照片或扫描件"
            )),
            Some(vision::OverBudget::TooSlow { limit }) => {
                crate::inference::InferenceError(format!("单页识别超过时限（{}秒），请上传更清晰、内容更少的照片或扫描件", limit.as_secs()))
            }
            None => crate::inference::InferenceError(format!("{e:#}")),
        })
    }

    fn digests(&self) -> BTreeMap<String, String> {
        self.digests.clone()
    }
}

impl crate::inference::TextEmbedder for EncoderEngine {
    fn embed(&self, text: &str, max_tokens: usize) -> Result<Vec<f32>, crate::inference::InferenceError> {
        EncoderEngine::embed(self, text, max_tokens).map_err(|e| crate::inference::InferenceError(format!("{e:#}")))
    }

    fn embed_many(&self, texts: &[&str], max_tokens: usize) -> Result<Vec<Vec<f32>>, crate::inference::InferenceError> {
        EncoderEngine::embed_many(self, texts, max_tokens).map_err(|e| crate::inference::InferenceError(format!("{e:#}")))
    }

    fn digests(&self) -> BTreeMap<String, String> {
        self.digests.clone()
    }
}

impl OcrEngine {
    /// Verify the manifest, then load the OCR networks from `dir/ocr`.
    pub fn load(dir: &Path, concurrency: usize) -> anyhow::Result<Arc<Self>> {
        Self::from_verified(&verify(dir)?, concurrency)
    }

    pub fn from_verified(verified: &VerifiedModels, concurrency: usize) -> anyhow::Result<Arc<Self>> {
        keep_freed_memory_for_reuse();
        let ocr = vision::Ocr::from_files(verified.reader("ocr"))
            .with_context(|| format!("loading the OCR models from {}", verified.path_of("ocr").display()))?;
        let digests = verified.digests().into_iter().filter(|(role, _)| role.starts_with("ocr")).collect();
        Ok(Arc::new(Self { ocr, permits: Permits::new(concurrency), digests }))
    }
}

/// Where the encoder's files live under the models directory.
pub const ENCODER_DIR: &str = "encoder";
pub const HEADS_FILE: &str = "encoder/heads.json";

/// The text encoder and the heads trained on it, loaded once, shared by every decision.
pub struct EncoderEngine {
    pub encoder: encoder::Encoder,
    pub heads: Arc<Heads>,
    pub permits: Permits,
    pool: rayon::ThreadPool,
    pub digests: BTreeMap<String, String>,
}

impl std::fmt::Debug for EncoderEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderEngine").field("digests", &self.digests).finish()
    }
}

impl EncoderEngine {
    /// Load the encoder and its heads; the heads must have been trained on these very weights.
    pub fn from_verified(verified: &VerifiedModels, concurrency: usize) -> anyhow::Result<Arc<Self>> {
        keep_freed_memory_for_reuse();
        let encoder = encoder::Encoder::from_files(verified.reader(ENCODER_DIR))
            .with_context(|| format!("loading the encoder from {}", verified.path_of(ENCODER_DIR).display()))?;
        let all = verified.digests();
        let weights = all.get("encoder").with_context(|| format!("the model manifest in {} pins no encoder", verified.dir.display()))?;
        if !verified.files.iter().any(|f| f.path == HEADS_FILE) {
            bail!("the model manifest pins no {HEADS_FILE}; train it with `onewindow train-heads`");
        }
        let heads_path = verified.path_of(HEADS_FILE);
        let heads: Heads = serde_json::from_slice(verified.bytes_of(HEADS_FILE)?)
            .with_context(|| format!("{} is not a heads file", heads_path.display()))?;
        if heads.format != HEADS_FORMAT {
            bail!("{} is format {:?}, this build reads {HEADS_FORMAT:?}", heads_path.display(), heads.format);
        }
        if &heads.encoder != weights {
            bail!(
                "{} was trained on encoder {}, the models directory holds {weights}; retrain with `onewindow train-heads`",
                heads_path.display(),
                heads.encoder
            );
        }
        for (what, head) in [("kinds", &heads.kinds), ("categories", &heads.categories)] {
            let shaped = head.classes.len() >= 2
                && head.prototypes.len() == head.classes.len()
                && head.prototypes.iter().all(|p| p.len() == encoder.dim())
                && head.temperature > 0.0;
            if !shaped {
                bail!(
                    "{}: the {what} head does not fit the encoder (classes, prototypes of {} values, temperature)",
                    heads_path.display(),
                    encoder.dim()
                );
            }
        }
        let digests = all.into_iter().filter(|(role, _)| role.starts_with("encoder")).collect();
        // Its own threads, not the shared pool the OCR's operators queue on. Measured in runs
        // alternated with the shared pool: text applications p50 631 -> 562 ms; image applications
        // showed no change beyond this machine's noise.
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("encoder-{i}")).build()?;
        Ok(Arc::new(Self { encoder, heads: Arc::new(heads), permits: Permits::new(concurrency), pool, digests }))
    }

    /// The unit embedding of one text cut to `max_tokens`, waiting for a permit: each run already
    /// uses every core.
    pub fn embed(&self, text: &str, max_tokens: usize) -> anyhow::Result<Vec<f32>> {
        Ok(self.embed_many(&[text], max_tokens)?.remove(0))
    }

    /// As [`EncoderEngine::embed`], several texts in the encoder's batches.
    pub fn embed_many(&self, texts: &[&str], max_tokens: usize) -> anyhow::Result<Vec<Vec<f32>>> {
        let _permit = self.permits.acquire();
        self.pool.install(|| self.encoder.embed_cut(texts, encoder::Role::Query, max_tokens))
    }
}

impl EncoderEngine {
    /// The encoder as the understanding stage uses it: behind its trait, with its heads.
    pub fn for_understanding(self: &Arc<Self>) -> crate::understanding::encoded::EncoderReader {
        crate::understanding::encoded::EncoderReader { embedder: self.clone(), heads: self.heads.clone() }
    }
}

/// Verify the manifest once, then load every model it pins.
pub fn load_all(dir: &Path, concurrency: usize) -> anyhow::Result<(Arc<OcrEngine>, Arc<EncoderEngine>)> {
    let verified = verify(dir)?;
    let started = std::time::Instant::now();
    let ocr = OcrEngine::from_verified(&verified, concurrency)?;
    crate::telemetry::model_loaded("ocr", started.elapsed(), concurrency);
    let started = std::time::Instant::now();
    let encoder = EncoderEngine::from_verified(&verified, concurrency)?;
    crate::telemetry::model_loaded("encoder", started.elapsed(), concurrency);
    Ok((ocr, encoder))
}

/// The networks allocate and free feature maps of megabytes at every layer. By default glibc's
/// allocator serves every block above 128 KiB (a threshold it raises only slowly) with a fresh
/// mapping and gives it back to the kernel when it is freed, so the next layer takes its memory page
/// fault by page fault: measured here, a quarter of a photo's OCR time. Set once, before the first
/// model runs: large blocks come from the heap, not fresh mappings (a block too large for a worker
/// thread's arena is still served, from the main heap; the test below checks it), and freed memory
/// is kept unless more than 1 GiB of it is free at the top.
///
/// Every thread shares the one main heap. Worker threads otherwise get arenas of their own, built
/// of 64 MiB heaps that glibc unmaps as soon as one is wholly free, whatever the trim threshold;
/// the next feature map then faults its pages in again. Measured on `bench --fixtures
/// fixtures/photo --iterations 1` (`perf stat`): 950k page faults and 2.5 s of system time with an
/// arena per thread, 240k and 0.8 s with one (most of those left are the models' loading); image
/// applications p50 2934 -> 2745 ms in three alternated runs. The networks allocate a few large
/// blocks per layer, so the shared lock is not contended. Resident memory then stays near its
/// peak, which the benchmarks report (about 1 GiB for an image application, under the 1.5 GB goal).
///
/// [`crate::cli::main`] calls this before any thread starts, so that no thread has taken an arena
/// of its own yet; the loaders call it again for a library user (a no-op after the first call).
pub fn keep_freed_memory_for_reuse() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only sets allocator parameters, under the allocator's own lock; it has no
        // pointer arguments. A refused value (returned as 0) leaves the default in place.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_models(to: &Path) {
        let from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
        std::fs::copy(from.join("MANIFEST.toml"), to.join("MANIFEST.toml")).unwrap();
        for dir in ["ocr", ENCODER_DIR] {
            std::fs::create_dir_all(to.join(dir)).unwrap();
            for entry in std::fs::read_dir(from.join(dir)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), to.join(dir).join(entry.file_name())).unwrap();
            }
        }
    }

    #[test]
    fn with_freed_memory_kept_for_reuse_large_blocks_are_still_served_on_any_thread() {
        keep_freed_memory_for_reuse();
        // Decisions run on worker threads, whose allocator arenas grow in 64 MiB heaps: a block
        // larger than that must still be served (by the main heap or a mapping), not refused.
        let sizes = [1usize << 20, 80 << 20, 300 << 20];
        let sums: Vec<u64> = std::thread::spawn(move || {
            sizes
                .iter()
                .map(|&len| {
                    let mut block = vec![0u8; len];
                    block.iter_mut().step_by(4096).for_each(|b| *b = 1);
                    block.iter().map(|b| *b as u64).sum()
                })
                .collect()
        })
        .join()
        .unwrap();
        assert_eq!(sums, sizes.iter().map(|len| len.div_ceil(4096) as u64).collect::<Vec<_>>());
    }

    #[test]
    fn the_shipped_models_match_their_pins_and_every_role_is_named_by_its_weights() {
        let verified = verify(&default_models_dir()).unwrap();
        let digests = verified.digests();
        for role in ["ocr-detection", "ocr-recognition", "ocr-direction"] {
            let weights = verified.files.iter().find(|f| f.role == role && f.path.ends_with(".safetensors")).unwrap();
            assert_eq!(digests[role], format!("sha256:{}", weights.sha256));
        }
        assert!(verified.files.iter().all(|f| !f.licence.is_empty() && !f.package.is_empty() && !f.command.is_empty()));
    }

    #[test]
    fn a_missing_or_altered_model_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        copy_models(dir.path());
        assert!(verify(dir.path()).is_ok());

        let weights = dir.path().join("ocr/cls.safetensors");
        let mut bytes = std::fs::read(&weights).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&weights, &bytes).unwrap();
        let err = format!("{:#}", verify(dir.path()).unwrap_err());
        assert!(err.contains("cls.safetensors") && err.contains("does not match"), "{err}");

        std::fs::remove_file(&weights).unwrap();
        let err = format!("{:#}", verify(dir.path()).unwrap_err());
        assert!(err.contains("cls.safetensors") && err.contains("missing"), "{err}");

        std::fs::remove_file(dir.path().join("MANIFEST.toml")).unwrap();
        let err = format!("{:#}", OcrEngine::load(dir.path(), 1).unwrap_err());
        assert!(err.contains("MANIFEST.toml"), "{err}");
    }

    #[test]
    fn the_models_are_loaded_from_the_bytes_that_were_checked_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        copy_models(dir.path());
        let verified = verify(dir.path()).unwrap();
        // Replaced after the check: a second read would load these, or fail on them.
        for file in ["ocr/det.safetensors", "ocr/rec.json", "encoder/e5.safetensors", "encoder/tokenizer.json", HEADS_FILE] {
            std::fs::write(dir.path().join(file), b"not the pinned file").unwrap();
        }
        let ocr = OcrEngine::from_verified(&verified, 1).unwrap();
        let encoder = EncoderEngine::from_verified(&verified, 1).unwrap();
        assert!(ocr.ocr.alphabet_len() > 6000, "the recognition dictionary is the pinned one");
        assert_eq!(encoder.encoder.dim(), 384);
        assert!(verify(dir.path()).is_err(), "the replaced files are refused at the next start");
    }

    #[test]
    fn heads_trained_on_other_weights_misshapen_or_left_unpinned_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        copy_models(dir.path());
        let mut verified = verify(dir.path()).unwrap();
        // The loaders take the checked contents, so the heads are changed there.
        let mut heads: serde_json::Value = serde_json::from_slice(verified.bytes_of(HEADS_FILE).unwrap()).unwrap();
        heads["encoder"] = serde_json::json!(format!("sha256:{}", "0".repeat(64)));
        verified.contents.insert(HEADS_FILE.to_string(), Arc::new(serde_json::to_vec(&heads).unwrap()));
        let err = format!("{:#}", EncoderEngine::from_verified(&verified, 1).unwrap_err());
        assert!(err.contains("retrain") && err.contains("heads.json"), "{err}");

        heads = serde_json::from_slice(&std::fs::read(default_models_dir().join(HEADS_FILE)).unwrap()).unwrap();
        heads["kinds"]["prototypes"][0] = serde_json::json!([0.5, 0.5]);
        verified.contents.insert(HEADS_FILE.to_string(), Arc::new(serde_json::to_vec(&heads).unwrap()));
        let err = format!("{:#}", EncoderEngine::from_verified(&verified, 1).unwrap_err());
        assert!(err.contains("kinds head does not fit"), "{err}");

        verified.files.retain(|f| f.path != HEADS_FILE);
        let err = format!("{:#}", EncoderEngine::from_verified(&verified, 1).unwrap_err());
        assert!(err.contains("pins no encoder/heads.json"), "{err}");
    }

    #[test]
    fn permits_bound_how_many_run_at_once() {
        let permits = Arc::new(Permits::new(2));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (permits, running, peak) = (permits.clone(), running.clone(), peak.clone());
                std::thread::spawn(move || {
                    let _permit = permits.acquire();
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "{peak} ran at once");
    }
}
