//! The use cases: everything a person or the machine does to a case, written once for the JSON API,
//! the background workers and the pages to come. Each takes typed inputs and the acting account,
//! checks who may do it, makes its state change through one storage call (one transaction, with its
//! audit event in it), and returns a typed error. No HTTP here, and no SQL.

pub mod accounts;
pub mod applications;
pub mod audit;
pub mod dashboard;
pub mod decide;
pub mod permits;
pub mod ratings;
pub mod review;

use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

use crate::clock::Clock;
use crate::domain::user::NotAllowed;
use crate::pipeline::{Pipeline, PipelineError};
use crate::rules::RuleSet;
use crate::storage::{BlobStore, Store, StoreError};

/// Limits a case is held to, whoever acts on it.
#[derive(Debug, Clone, Copy)]
pub struct CaseLimits {
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub max_application_bytes: u64,
    /// Most decisions queued or running; a submission beyond it is refused, not queued.
    pub max_queued_decisions: usize,
    pub max_applications_per_day: usize,
    pub max_account_bytes: u64,
    /// Working days to close a work order opened by a bad rating.
    pub work_order_days: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// The request names something that cannot be (an unknown reason code, an empty reason).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    /// Too much work queued or running: try again after the given number of seconds.
    #[error("{message}")]
    Overloaded { message: String, retry_after_secs: u64 },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The machine failed (a stored blob unreadable, a background task lost); logged, never shown.
    #[error("{0}")]
    Internal(String),
}

pub(crate) struct Context {
    store: Arc<dyn Store>,
    blobs: BlobStore,
    pipeline: Arc<Pipeline>,
    clock: Arc<dyn Clock>,
    limits: CaseLimits,
    /// Wakes an idle worker when a job is queued.
    jobs: Notify,
    /// A correction re-decides the case inside the reviewer's request; this bounds how many do so
    /// at once, so corrections cannot pile up OCR runs beside the workers'.
    corrections: Semaphore,
    sessions: accounts::SessionLimits,
    sign_ins: accounts::SignInThrottle,
    /// One replay at a time: it reads every document of a case again.
    replays: Semaphore,
    /// Password hashes at once (argon2id, 19 MiB each).
    hashing: Semaphore,
    /// The dashboard's facts as of an audit log size: loaded again only once the log has grown.
    facts: dashboard::FactsCache,
}

/// The use cases over one store, blob store, pipeline and clock. Cheap to clone.
#[derive(Clone)]
pub struct UseCases(Arc<Context>);

/// How many corrections may re-decide at once in one process.
const CORRECTIONS_AT_ONCE: usize = 1;

impl UseCases {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: BlobStore,
        pipeline: Arc<Pipeline>,
        clock: Arc<dyn Clock>,
        limits: CaseLimits,
        sessions: accounts::SessionLimits,
    ) -> Self {
        Self(Arc::new(Context {
            store,
            blobs,
            pipeline,
            clock,
            limits,
            jobs: Notify::new(),
            corrections: Semaphore::new(CORRECTIONS_AT_ONCE),
            sessions,
            sign_ins: accounts::SignInThrottle::default(),
            replays: Semaphore::new(1),
            hashing: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
            facts: Default::default(),
        }))
    }

    /// The store, for what only reads it (health checks, the test harness's accounts).
    pub fn store(&self) -> &dyn Store {
        self.0.store.as_ref()
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.0.pipeline
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        self.0.pipeline.rules()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.0.clock.as_ref()
    }

    pub fn limits(&self) -> CaseLimits {
        self.0.limits
    }

    pub fn session_limits(&self) -> accounts::SessionLimits {
        self.0.sessions
    }

    /// Resolves when a job may have been queued (or after a missed wake-up, at the caller's poll).
    pub async fn jobs_notified(&self) {
        self.0.jobs.notified().await
    }

    fn notify_jobs(&self) {
        self.0.jobs.notify_one();
    }
}
