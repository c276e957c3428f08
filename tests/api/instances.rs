//! Several `serve` processes on one Postgres database are one service: applications submitted to
//! either are decided exactly once, one instance killed while it holds jobs has them finished by
//! the other once their lease runs out, permit numbers stay consecutive, and the log verifies.
//! Needs the Postgres server `ONEWINDOW_TEST_POSTGRES_URL` names (`.ci/run` starts one); without
//! it the test passes with a message, unless `ONEWINDOW_POSTGRES_REQUIRED` is set.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onewindow::load::{self, Package};
use sqlx::{Connection, Executor};

use crate::helpers::{onewindow_exe, repo, spawn_app_with, AppOptions, TestApp};
use crate::load::{free_address, start_server_with};

/// A new, empty database on the test server and its URL, or None when there is no server.
async fn fresh_database() -> Option<String> {
    let Ok(server) = std::env::var("ONEWINDOW_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("ONEWINDOW_POSTGRES_REQUIRED").is_none(), "ONEWINDOW_POSTGRES_REQUIRED is set but no server is named");
        eprintln!("skipped: no ONEWINDOW_TEST_POSTGRES_URL");
        return None;
    };
    let name = format!("onewindow_api_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let (host, _) = server.rsplit_once('/').unwrap();
    Some(format!("{host}/{name}"))
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_decide_everything_once_even_when_one_is_killed_holding_jobs() {
    let Some(url) = fresh_database().await else { return };
    let temp = tempfile::tempdir().unwrap();
    // One data directory for both: the documents' blobs and the keys are shared, as on one machine.
    let data_dir = temp.path().join("data");
    let applicants = 50;
    let tokens = load::make_applicants(&data_dir, Some(&url), applicants).await.unwrap();
    let package = Package::from_fixture(&repo().join("fixtures/drainage-permit/clean-catering-stsong")).unwrap();
    let args = ["--database-url", &url, "--job-lease-secs", "5"];
    let mut first = start_server_with(&data_dir, &free_address(), &args).await;
    let second = start_server_with(&data_dir, &free_address(), &args).await;

    // Alternately: even applicants to the first instance, odd ones to the second, all at once.
    let (even, odd): (Vec<_>, Vec<_>) = tokens.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
    let strip = |v: Vec<(usize, String)>| v.into_iter().map(|(_, t)| t).collect::<Vec<_>>();
    let (even, odd) = (strip(even), strip(odd));
    let runs = [(first.address.clone(), even), (second.address.clone(), odd)].map(|(address, tokens)| {
        let package = package.clone();
        tokio::spawn(async move { load::run(&address, &tokens, &package).await })
    });
    let mut acknowledged = Vec::new();
    for run in runs {
        let report = run.await.unwrap();
        assert_eq!(report.errors(), 0, "{}", report.render());
        acknowledged.extend(report.acknowledged.into_iter().filter(|a| a.submitted).filter_map(|a| a.application_id));
    }
    assert_eq!(acknowledged.len(), applicants, "every application submitted");

    // Kill the first instance while both workers hold a job (and more wait in the queue).
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let running = count(&pool, "SELECT COUNT(*) FROM jobs WHERE state = 'running'").await;
        let queued = count(&pool, "SELECT COUNT(*) FROM jobs WHERE state = 'queued'").await;
        if running == 2 && queued > 0 {
            break;
        }
        assert!(queued > 0 || running > 0, "the queue drained before both workers held a job at once");
        assert!(Instant::now() < deadline, "both workers never held a job at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let killed_at = Instant::now();

    // The second instance decides everything, the dead one's job included once its lease runs out.
    let deadline = Instant::now() + Duration::from_secs(600);
    while count(&pool, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").await > 0 {
        assert!(Instant::now() < deadline, "the queue was never emptied by the surviving instance");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("queue emptied {:?} after the kill", killed_at.elapsed());
    let taken_over = count(&pool, "SELECT COUNT(*) FROM jobs WHERE attempts = 2").await;
    assert!(taken_over >= 1, "the job the killed instance held was claimed again after its lease");
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM jobs WHERE state <> 'done'").await, 0, "no job failed");
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM decisions").await, applicants as i64, "one decision per application");
    assert_eq!(count(&pool, "SELECT COUNT(DISTINCT application_id) FROM decisions").await, applicants as i64);
    let still_submitted = count(&pool, "SELECT COUNT(*) FROM applications WHERE state = 'submitted'").await;
    assert_eq!(still_submitted, 0);
    let decided: Vec<String> =
        sqlx::query_scalar("SELECT application_id FROM decisions ORDER BY application_id").fetch_all(&pool).await.unwrap();
    acknowledged.sort();
    assert_eq!(decided, acknowledged, "exactly the submitted applications were decided");

    // Permit numbers, if any issued: consecutive from 1. (A `serve` process runs on the real date,
    // by which the fixture's report may be too old to issue; numbering under concurrent issues is
    // the next test's, on a fixed date.)
    let issued = count(&pool, "SELECT COUNT(*) FROM applications WHERE state = 'issued'").await;
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM permits ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(seqs, (1..=issued).collect::<Vec<_>>());
    pool.close().await;
    drop(second);

    let verify =
        Command::new(onewindow_exe()).args(["audit", "verify", "--database-url", &url, "--data-dir"]).arg(&data_dir).output().unwrap();
    let said = String::from_utf8_lossy(&verify.stdout).to_string() + &String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && said.starts_with("audit log verified"), "{said}");
}

/// Twenty applications submitted at once, half to each of two instances on one database, every
/// one issued: permit numbers 1 to 20, none twice, whichever instance's worker issued it. The two
/// are set up as on two machines: data directories of their own (the second given the first's
/// keys, as an operator copies them), the documents in one object store (`file://`, through
/// `object_store`), so a document uploaded to one is read by whichever instance decides it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_issuances_across_two_instances_are_numbered_1_to_20() {
    let Some(url) = fresh_database().await else { return };
    let objects = tempfile::tempdir().unwrap();
    let options = AppOptions { database_url: Some(url.clone()), blob_store: Some(file_url(objects.path())), ..AppOptions::default() };
    let (first, second) = two_machines(options.clone(), options).await;
    let keys: Vec<String> = (0..20).map(|i| format!("key-{i}")).collect();
    let submissions = keys.iter().enumerate().map(|(i, key)| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.submit_fixture("clean-catering-stsong", key)
    });
    let ids = futures_util::future::join_all(submissions).await;
    for (i, id) in ids.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        let application = app.wait_for_decisions(id, 1).await;
        assert_eq!(application["state"], "issued", "{application}");
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, number FROM permits ORDER BY seq").fetch_all(&pool).await.unwrap();
    let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<i64>>(), "1 to 20, no gap, no duplicate");
    let numbers: std::collections::BTreeSet<&String> = rows.iter().map(|(_, number)| number).collect();
    assert_eq!(numbers.len(), 20, "twenty different permit numbers: {numbers:?}");
    let stored = crate::helpers::files_under(&objects.path().join("blobs")).len();
    let fixture = crate::helpers::Fixture::load("clean-catering-stsong").files.len();
    assert_eq!(stored, fixture, "the documents, once each, in the shared store");
    for app in [&first, &second] {
        let local = app.data_dir.join("blobs");
        assert!(!local.exists() || crate::helpers::files_under(&local).is_empty(), "none in a data directory");
    }
}

fn file_url(dir: &std::path::Path) -> String {
    format!("file://{}", dir.display())
}

/// Two instances as on two machines: data directories of their own, the second given the first's
/// keys (as an operator copies them).
async fn two_machines(first: AppOptions, second: AppOptions) -> (TestApp, TestApp) {
    let first = spawn_app_with(first).await;
    let own = Arc::new(tempfile::tempdir().unwrap());
    let second_dir = own.path().join("data");
    std::fs::create_dir_all(&second_dir).unwrap();
    for key in [onewindow::issuance::verification::KEY_FILE, onewindow::audit::checkpoint::KEY_FILE] {
        std::fs::copy(first.data_dir.join(key), second_dir.join(key)).unwrap();
    }
    let second = spawn_app_with(AppOptions { data_dir: Some((second_dir, own)), ..second }).await;
    (first, second)
}

/// A document uploaded to one instance is read by the other: the first runs no worker, so the
/// second decides every case, from the shared object store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_decides_on_documents_uploaded_to_another() {
    let Some(url) = fresh_database().await else { return };
    let objects = tempfile::tempdir().unwrap();
    let shared = AppOptions { database_url: Some(url.clone()), blob_store: Some(file_url(objects.path())), ..AppOptions::default() };
    let (uploads, decides) = two_machines(AppOptions { workers: 0, ..shared.clone() }, shared).await;
    let id = uploads.submit_fixture("clean-catering-stsong", "k").await;
    let application = uploads.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "issued", "{application}");
    assert!(!decides.data_dir.join("blobs").exists(), "the deciding instance read the shared store");
    drop(decides);
}
