//! The composition root: builds the store, rule set, reader, decider and state, binds the listener,
//! and runs the API with its workers. The only place that names concrete implementations.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::config::{LimitsConfig, ServeConfig};
use crate::pipeline::Decider;
use crate::rules::RuleSet;
use crate::storage::sqlite::SqliteStore;
use crate::storage::{BlobStore, Store};

pub struct App {
    store: Arc<dyn Store>,
    blobs: BlobStore,
    decider: Arc<Decider>,
    limits: LimitsConfig,
    clock: Arc<dyn Clock>,
    public_url: String,
    certificate_font: crate::issuance::certificate::CertificateFont,
    jobs: Notify,
    ready: AtomicBool,
}

/// Shared by every handler and worker.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    pub fn store(&self) -> &dyn Store {
        self.0.store.as_ref()
    }
    pub fn blobs(&self) -> &BlobStore {
        &self.0.blobs
    }
    pub fn decider(&self) -> &Arc<Decider> {
        &self.0.decider
    }
    pub fn limits(&self) -> &LimitsConfig {
        &self.0.limits
    }
    pub fn clock(&self) -> &dyn Clock {
        self.0.clock.as_ref()
    }
    pub fn public_url(&self) -> &str {
        &self.0.public_url
    }
    pub fn certificate_font(&self) -> &crate::issuance::certificate::CertificateFont {
        &self.0.certificate_font
    }
    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::Acquire)
    }
    /// Wakes a worker: a job was queued.
    pub fn notify_jobs(&self) {
        self.0.jobs.notify_one();
    }
    pub async fn jobs_notified(&self) {
        self.0.jobs.notified().await
    }
}

/// What tests may swap in. Production uses the defaults.
#[derive(Default)]
pub struct BuildOptions {
    /// The binary that reads PDFs in a child process; default: this executable.
    pub reader_exe: Option<PathBuf>,
    pub clock: Option<Arc<dyn Clock>>,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    workers: usize,
}

/// Opens the data directory's SQLite database (or `database_url`) and the blob store.
pub async fn open_storage(data_dir: &std::path::Path, database_url: Option<&str>) -> anyhow::Result<(Arc<dyn Store>, BlobStore)> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let store = match database_url {
        Some(url) if url.starts_with("postgres") => anyhow::bail!("postgres is not supported yet; use the embedded SQLite database"),
        Some(url) => SqliteStore::connect(url).await,
        None => SqliteStore::open_in(data_dir).await,
    }
    .context("opening the database")?;
    let blobs = BlobStore::open(data_dir.join("blobs")).context("opening the blob store")?;
    Ok((Arc::new(store), blobs))
}

impl Application {
    pub async fn build(config: ServeConfig, options: BuildOptions) -> anyhow::Result<Self> {
        let rules = RuleSet::load_dir(&config.rules.rules_dir)
            .with_context(|| format!("loading rules from {}", config.rules.rules_dir.display()))?;
        let (store, blobs) = open_storage(&config.data_dir, config.database_url.as_deref()).await?;
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
            None => std::env::current_exe().context("locating the onewindow binary for the pdf reader")?,
        };
        let reader = config.limits.reader(reader_exe).context("loading the models")?;
        let decider = Decider::new(Arc::new(rules), reader);
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let app = App {
            store,
            blobs,
            decider: Arc::new(decider),
            limits: config.limits.clone(),
            clock: options.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            public_url: config.public_url.clone(),
            certificate_font: crate::issuance::certificate::CertificateFont::shipped().context("loading the certificate font")?,
            jobs: Notify::new(),
            ready: AtomicBool::new(false),
        };
        Ok(Self { listener, state: AppState(Arc::new(app)), workers: config.workers })
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
            workers.push(tokio::spawn(crate::worker::run(self.state.clone(), idx, stop_rx.clone())));
        }
        let deadlines = tokio::spawn(crate::deadlines::run(self.state.clone(), stop_rx.clone()));
        self.state.0.ready.store(true, Ordering::Release);
        tracing::info!(listen = %self.listener.local_addr()?, workers = self.workers, "onewindow ready");
        let router = crate::http::router(self.state.clone());
        axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await.context("serving http")?;
        let _ = stop_tx.send(true);
        for worker in workers {
            let _ = worker.await;
        }
        let _ = deadlines.await;
        Ok(())
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
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
