//! A crash or restart loses no submitted application: the queued (or interrupted) job is decided
//! by the next process.

use crate::helpers::{data_db, spawn_app_with, AppOptions, Fixture};

#[tokio::test]
async fn a_submitted_application_survives_a_restart_and_an_interrupted_job_is_taken_up_again() {
    let app = spawn_app_with(AppOptions { workers: 0, ..AppOptions::default() }).await;
    let fixture = Fixture::load("clean-hotel-libreoffice-tables");
    let id = app.create_ok(&fixture.form).await;
    app.upload(&id, &fixture.files).await;
    assert_eq!(app.submit(&id, "k").await.status(), 202);
    assert_eq!(app.get_application(&id).await["state"], "submitted");
    let token = app.token.clone();
    let (data_dir, temp) = app.stop().await;

    // As if a worker had claimed the job and the process died in the middle of it.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&data_dir).display())).await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'running', attempts = 1, lease_until_ms = 9999999999999").execute(&pool).await.unwrap();
    pool.close().await;

    let mut app = spawn_app_with(AppOptions { data_dir: Some((data_dir, temp)), ..AppOptions::default() }).await;
    app.token = token;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "issued", "{}", application["decision"]);
    assert_eq!(application["decisions"].as_array().unwrap().len(), 1);
}

/// Regression (review of 2026-11-28): a job that fails every attempt left its case `submitted` for
/// ever. Now the last failure sends the case to a person.
#[tokio::test]
async fn a_case_the_machine_cannot_decide_goes_to_review_not_limbo() {
    let app = spawn_app_with(AppOptions { workers: 0, ..AppOptions::default() }).await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let token = app.token.clone();
    let (data_dir, temp) = app.stop().await;
    // The stored documents vanish (a broken disk): every attempt fails.
    std::fs::remove_dir_all(data_dir.join("blobs")).unwrap();
    std::fs::create_dir_all(data_dir.join("blobs")).unwrap();

    let mut app = spawn_app_with(AppOptions { data_dir: Some((data_dir, temp)), ..AppOptions::default() }).await;
    app.token = token;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let application = app.get_application(&id).await;
        if application["state"] == "needs_review" {
            let failures = application["history"].as_array().unwrap().iter().filter(|e| e["kind"] == "decision.failed").count();
            assert_eq!(failures, 3, "three attempts, each on record");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{application}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A job that was on its last attempt when the process died may be what killed it: it is not run a
/// fourth time at start-up; the case goes to a person.
#[tokio::test]
async fn a_job_interrupted_on_its_last_attempt_is_not_run_again() {
    let app = spawn_app_with(AppOptions { workers: 0, ..AppOptions::default() }).await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let token = app.token.clone();
    let (data_dir, temp) = app.stop().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&data_dir).display())).await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'running', attempts = 3, lease_until_ms = 9999999999999").execute(&pool).await.unwrap();
    pool.close().await;

    let mut app = spawn_app_with(AppOptions { data_dir: Some((data_dir, temp)), ..AppOptions::default() }).await;
    app.token = token;
    let application = app.get_application(&id).await;
    assert_eq!(application["state"], "needs_review");
    assert!(application["decisions"].as_array().unwrap().is_empty(), "not decided again");
    assert!(application["history"].as_array().unwrap().iter().any(|e| e["kind"] == "decision.failed"));
}

/// An application whose documents take longer to read than its budget goes to a person after one
/// attempt (another would only hold a worker as long again), with the failure on record; the
/// service is not left deciding it.
#[tokio::test]
async fn an_application_over_its_reading_budget_goes_to_a_person_after_one_attempt() {
    let limits = onewindow::config::LimitsConfig { application_read_budget_secs: 0, ..Default::default() };
    let app = spawn_app_with(AppOptions { limits, ..AppOptions::default() }).await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let application = app.get_application(&id).await;
        if application["state"] == "needs_review" {
            let failures = application["history"].as_array().unwrap().iter().filter(|e| e["kind"] == "decision.failed").count();
            assert_eq!(failures, 1, "given up at once: {}", application["history"]);
            assert!(application["decisions"].as_array().unwrap().is_empty(), "nothing decided on part of the materials");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{application}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
