//! Operators' metrics, served as Prometheus text at `/metrics` by the service's own router.
//!
//! Every instance counts its own work (its requests, its decisions, its stages); the queue figures
//! are read from the shared database at each scrape, so every instance on one database reports the
//! same queue (take `max` across instances, not `sum`). The names:
//!
//! - `onewindow_stage_duration_seconds{stage}` (histogram): one document's `read` (text layer or
//!   OCR, whole), one page image's `ocr` (the model run inside a read), one document's `understand`,
//!   the case's `rules` (collecting and assessing the facts, with the category model) and `decide`
//!   (the decision written from the assessment);
//! - `onewindow_decision_duration_seconds{service}` (histogram): a job from claim to recorded decision;
//! - `onewindow_decisions_total{service,outcome,by}` (counter): by `machine` or `reviewer`;
//! - `onewindow_jobs{state}` (gauge): `queued` and `running`; `onewindow_job_queue_oldest_seconds`
//!   (gauge): how long the oldest queued job has waited since it was first queued (a retried job
//!   counts from its first queueing), 0 when none waits;
//! - `onewindow_http_requests_total{method,route,status}` (counter) and
//!   `onewindow_http_request_duration_seconds{method,route}` (histogram), by the route's pattern
//!   (`/api/v1/applications/{id}`), never the raw path, so that ids do not become series;
//! - `onewindow_model_load_seconds{model}` and `onewindow_model_pool_size{model}` (gauges);
//!   `onewindow_workers` (gauge).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const STAGE_SECONDS: &str = "onewindow_stage_duration_seconds";
const DECISION_SECONDS: &str = "onewindow_decision_duration_seconds";
const HTTP_SECONDS: &str = "onewindow_http_request_duration_seconds";

/// Bucket bounds in seconds: from a rule check (sub-millisecond) to a scanned application's reading
/// (a minute and more).
const SECONDS_BUCKETS: &[f64] = &[0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// A stage of deciding one case, as `/metrics` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Read,
    Ocr,
    Understand,
    Rules,
    Decide,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Ocr => "ocr",
            Stage::Understand => "understand",
            Stage::Rules => "rules",
            Stage::Decide => "decide",
        }
    }
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; every later call returns the same handle). `None` when
/// something else installed a recorder first (a library user's): the metrics go there, and
/// `/metrics` says it has none to show.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .expect("the bucket list is not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    Some(handle)
                }
                Err(_) => None,
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_histogram!(
        STAGE_SECONDS,
        metrics::Unit::Seconds,
        "One stage of deciding a case: read, ocr, understand, rules, decide"
    );
    metrics::describe_histogram!(DECISION_SECONDS, metrics::Unit::Seconds, "A decision job from claim to recorded decision");
    metrics::describe_counter!("onewindow_decisions_total", "Decisions recorded, by service, outcome and who made them");
    metrics::describe_gauge!("onewindow_jobs", "Decision jobs in the shared queue, by state");
    metrics::describe_gauge!("onewindow_job_queue_oldest_seconds", "How long the oldest queued decision job has waited");
    metrics::describe_counter!("onewindow_http_requests_total", "HTTP requests answered, by method, route pattern and status");
    metrics::describe_histogram!(HTTP_SECONDS, metrics::Unit::Seconds, "HTTP request latency, by method and route pattern");
    metrics::describe_gauge!("onewindow_model_load_seconds", "How long loading each model took at start");
    metrics::describe_gauge!("onewindow_model_pool_size", "How many runs of each model may go at once");
    metrics::describe_gauge!("onewindow_workers", "Decision workers in this instance");
}

/// Records how long one stage took.
pub fn stage(stage: Stage, took: Duration) {
    metrics::histogram!(STAGE_SECONDS, "stage" => stage.as_str()).record(took.as_secs_f64());
}

/// Runs `f`, recording how long it took as `stage`.
pub fn timed<T>(stage_: Stage, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    stage(stage_, started.elapsed());
    out
}

/// Counts one recorded decision (`by`: `machine` or `reviewer`).
pub fn decision(service: &str, outcome: &str, by: &'static str) {
    metrics::counter!("onewindow_decisions_total", "service" => service.to_string(), "outcome" => outcome.to_string(), "by" => by)
        .increment(1);
}

/// Records a decision job's whole run.
pub fn decision_took(service: &str, took: Duration) {
    metrics::histogram!(DECISION_SECONDS, "service" => service.to_string()).record(took.as_secs_f64());
}

/// Records one answered HTTP request.
pub fn http(method: &str, route: &str, status: u16, took: Duration) {
    let (method, route) = (method.to_string(), route.to_string());
    metrics::counter!("onewindow_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_SECONDS, "method" => method, "route" => route).record(took.as_secs_f64());
}

/// Records a model's loading time and how many runs of it may go at once.
pub fn model_loaded(model: &'static str, took: Duration, pool_size: usize) {
    metrics::gauge!("onewindow_model_load_seconds", "model" => model).set(took.as_secs_f64());
    metrics::gauge!("onewindow_model_pool_size", "model" => model).set(pool_size as f64);
}

/// Records how many decision workers this instance runs.
pub fn workers(count: usize) {
    metrics::gauge!("onewindow_workers").set(count as f64);
}

/// Sets the queue gauges from what the database holds now.
pub fn queue(queued: i64, running: i64, oldest_wait: Duration) {
    metrics::gauge!("onewindow_jobs", "state" => "queued").set(queued as f64);
    metrics::gauge!("onewindow_jobs", "state" => "running").set(running as f64);
    metrics::gauge!("onewindow_job_queue_oldest_seconds").set(oldest_wait.as_secs_f64());
}

/// The Prometheus text of everything recorded so far, or `None` without this module's recorder.
pub fn render() -> Option<String> {
    let handle = install()?;
    handle.run_upkeep();
    Some(handle.render())
}
