//! The composition root: builds the store, rule set, models, pipeline, use cases and HTTP state,
//! binds the listener, and runs the API with its workers. The only place that names every
//! concrete implementation (SQLite, the shipped models, the system clock).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{LimitsConfig, ServeConfig};
use crate::http::AppState;
use crate::inference::Ocr;
use crate::issuance::certificate::CertificateFont;
use crate::pipeline::Pipeline;
use crate::rules::RuleSet;
use crate::storage::sql::SqlStore;
use crate::storage::{BlobStore, Store};
use crate::understanding::encoded::EncoderReader;
use crate::understanding::Understander;
use crate::usecases::UseCases;

/// What tests may swap in. Production uses the defaults.
#[derive(Default)]
pub struct BuildOptions {
    /// The binary that reads PDFs in a child process; default: this executable.
    pub reader_exe: Option<PathBuf>,
    pub clock: Option<Arc<dyn Clock>>,
    /// The models; default: the shipped ones, verified and loaded from the models directory.
    pub inference: Option<Inference>,
}

/// The models a pipeline runs: the shipped ones, or others a test puts in their place. Without an
/// OCR, photos and scans are unreadable; without an encoder, documents are understood by their
/// keywords alone.
#[derive(Clone, Default)]
pub struct Inference {
    pub ocr: Option<Arc<dyn Ocr>>,
    pub encoder: Option<EncoderReader>,
}

impl Inference {
    /// The shipped models, each file checked against its pinned SHA-256 first.
    pub fn load(limits: &LimitsConfig) -> anyhow::Result<Self> {
        let (ocr, encoder) = crate::models::load_all(&limits.models_dir, limits.ocr_concurrency).context("loading the models")?;
        Ok(Self { ocr: Some(ocr), encoder: Some(encoder.for_understanding()) })
    }
}

/// The decision pipeline over `rules` with these models; `reader_exe` reads PDFs in a child process.
pub fn pipeline(rules: Arc<RuleSet>, limits: &LimitsConfig, reader_exe: PathBuf, inference: Inference) -> Pipeline {
    let reader = reader(limits, reader_exe, inference.ocr);
    let understander = Understander::new(&rules, inference.encoder);
    Pipeline::new(rules, reader, understander)
}

/// The reading stage under `limits`, with this OCR if any (without one, photos and scans are
/// unreadable); `reader_exe` reads PDFs in a child process.
pub fn reader(limits: &LimitsConfig, reader_exe: PathBuf, ocr: Option<Arc<dyn Ocr>>) -> crate::reading::Reader {
    let reader = crate::reading::Reader::new(limits.read_limits(), reader_exe);
    match ocr {
        Some(ocr) => reader.with_ocr(ocr),
        None => reader,
    }
}

/// This executable, which reads PDFs in a child process (`onewindow __read-pdf`).
pub fn this_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating the onewindow binary for the pdf reader")
}

/// The service, built and bound, before it serves.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    workers: usize,
    job_lease: Option<std::time::Duration>,
}

/// Opens the data directory's SQLite database (or `database_url`: Postgres or SQLite).
pub async fn open_database(data_dir: &std::path::Path, database_url: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let store = match database_url {
        Some(url) => SqlStore::connect(url).await.with_context(|| format!("opening the database {}", crate::config::redact_url(url)))?,
        None => SqlStore::open_in(data_dir).await.context("opening the database")?,
    };
    Ok(Arc::new(store))
}

/// Opens the database and the blob store (`blob_store`'s URL, or the data directory's `blobs`).
pub async fn open_storage(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    blob_store: Option<&str>,
) -> anyhow::Result<(Arc<dyn Store>, BlobStore)> {
    let store = open_database(data_dir, database_url).await?;
    let blobs = BlobStore::open_url(blob_store, &data_dir.join("blobs")).context("opening the blob store")?;
    Ok((store, blobs))
}

impl Application {
    pub async fn build(config: ServeConfig, options: BuildOptions) -> anyhow::Result<Self> {
        // Before the models load, so that their loading is measured too.
        if crate::telemetry::install().is_none() {
            tracing::warn!("another metrics recorder is installed in this process: /metrics has nothing to show");
        }
        let rules = RuleSet::load_dir(&config.rules.rules_dir)
            .with_context(|| format!("loading rules from {}", config.rules.rules_dir.display()))?;
        let (store, blobs) = open_storage(&config.data_dir, config.database_url.as_deref(), config.blob_store.as_deref()).await?;
        store
            .save_ruleset(rules.hash(), &serde_json::to_string(rules.files()).context("serialising the rule set")?)
            .await
            .context("recording the rule set")?;
        // With the embedded database this process is the only one, so whatever was running died with
        // the previous process and goes back in the queue at once.
        let requeued = store.requeue_running_jobs(crate::worker::MAX_ATTEMPTS).await.context("requeueing interrupted jobs")?;
        if requeued > 0 {
            tracing::warn!(jobs = requeued, "requeued jobs interrupted by a previous stop");
        }
        let reader_exe = match options.reader_exe {
            Some(exe) => exe,
            None => this_exe()?,
        };
        let inference = match options.inference {
            Some(inference) => inference,
            None => Inference::load(&config.limits)?,
        };
        let replay = crate::usecases::audit::ReplayKit {
            limits: config.limits.clone(),
            inference: inference.clone(),
            reader_exe: reader_exe.clone(),
        };
        let pipeline = pipeline(Arc::new(rules), &config.limits, reader_exe, inference);
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let clock = options.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let usecases =
            UseCases::new(store.clone(), blobs, Arc::new(pipeline), clock, config.limits.case_limits(), config.sessions.limits());
        let font = CertificateFont::shipped().context("loading the certificate font")?;
        let verification = crate::issuance::verification::VerificationKey::load_or_create(&config.data_dir)
            .context("reading or creating the verification-code key")?;
        let signer = crate::audit::checkpoint::LogSigner::load_or_create(&config.data_dir, &config.audit_origin())
            .context("reading or creating the audit log's signing key")?;
        // The origin is the log's name in every checkpoint: a log renamed mid-way would have
        // checkpoints no one verifier key checks.
        if let Some((_, note)) = store.latest_checkpoint().await.context("reading the latest checkpoint")? {
            let named = note.lines().next().unwrap_or_default();
            anyhow::ensure!(
                named == signer.origin(),
                "the audit log is named {named:?} in its checkpoints, but the settings name it {:?}: keep its name (--audit-origin {named})",
                signer.origin()
            );
        }
        let state = AppState::new(usecases, config.public_url.clone(), font, verification, replay, signer);
        Ok(Self { listener, state, workers: config.workers, job_lease: config.job_lease_secs.map(std::time::Duration::from_secs) })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops the workers after their current job.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        for idx in 0..self.workers {
            workers.push(tokio::spawn(crate::worker::run(self.state.usecases().clone(), idx, self.job_lease, stop_rx.clone())));
        }
        let deadlines = tokio::spawn(crate::deadlines::run(self.state.usecases().clone(), stop_rx.clone()));
        let checkpoints = tokio::spawn(keep_checkpoints(self.state.clone(), stop_rx.clone()));
        crate::telemetry::workers(self.workers);
        self.state.set_ready();
        tracing::info!(listen = %self.listener.local_addr()?, workers = self.workers, "onewindow ready");
        let router = crate::http::router(self.state.clone());
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            // Readiness fails at once, so a load balancer sends no more; requests in flight finish.
            state.set_stopping();
            tracing::info!("shutting down: no new requests; workers finish their current job");
        };
        axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await.context("serving http")?;
        let _ = stop_tx.send(true);
        for worker in workers {
            let _ = worker.await;
        }
        let _ = deadlines.await;
        let _ = checkpoints.await;
        // The last appends (the workers' final jobs) get their checkpoint too.
        if let Err(error) = self.state.usecases().checkpoint(self.state.signer()).await {
            tracing::error!(%error, "the last checkpoint was not signed");
        }
        Ok(())
    }

    /// Serves until SIGTERM (what service managers and orchestrators send) or Ctrl-C. The
    /// handler is in place before the service is ready, so an early SIGTERM is a clean stop too.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
        self.run_until(async move {
            #[cfg(unix)]
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    }
}

/// How often the log's growth is signed: a checkpoint covers every batch of appends within this
/// time (none is signed while the log does not grow).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Signs and keeps a checkpoint whenever the audit log has grown, every [`CHECKPOINT_EVERY`].
async fn keep_checkpoints(state: crate::http::AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        // One instance a period signs (each signs with the one key the instances share).
        if crate::deadlines::periodic_turn(state.usecases(), "checkpoint", CHECKPOINT_EVERY).await {
            if let Err(error) = state.usecases().checkpoint(state.signer()).await {
                tracing::error!(%error, "checkpoint not signed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// `onewindow serve`.
pub fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let application = Application::build(config, BuildOptions::default()).await?;
        application.run_until_stopped().await
    })
}
