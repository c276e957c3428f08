//! The audit trail: every step is logged in the same transaction, the chain verifies, a changed
//! byte is found and named, and a recorded decision replays byte for byte.

use std::process::Command;

use crate::helpers::{data_db, onewindow_exe, spawn_app_with, AppOptions, Fixture};

#[tokio::test]
async fn the_log_verifies_names_a_tampered_entry_and_decisions_replay() {
    // `onewindow replay` decides again with the shipped models, so the app decides with them too.
    let app = spawn_app_with(AppOptions::with_shipped_models()).await;
    let fixture = Fixture::load("ph-10-2");
    let id = app.create_ok(&fixture.form).await;
    app.upload(&id, &fixture.files).await;
    app.submit(&id, "k").await;
    app.wait_for_decisions(&id, 1).await;
    let (data_dir, _temp) = app.stop().await;

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&data_dir).display())).await.unwrap();
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM audit_log ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(kinds.first().map(String::as_str), Some("user.created"), "the test's applicant account");
    assert_eq!(kinds.get(1).map(String::as_str), Some("application.created"));
    assert_eq!(kinds.iter().filter(|k| *k == "document.stored").count(), fixture.files.len());
    assert!(kinds.contains(&"application.submitted".to_string()));
    assert_eq!(kinds.last().map(String::as_str), Some("application.decided"));

    let run = |args: &[&str]| Command::new(onewindow_exe()).args(args).arg("--data-dir").arg(&data_dir).output().unwrap();
    let verify = run(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let replay = run(&["replay", &id]);
    assert!(replay.status.success(), "{}{}", String::from_utf8_lossy(&replay.stdout), String::from_utf8_lossy(&replay.stderr));
    assert!(String::from_utf8_lossy(&replay.stdout).contains("reproduced byte for byte"));

    // One changed byte in entry 3's payload.
    sqlx::query("UPDATE audit_log SET payload = replace(payload, 'pdf', 'pdF') WHERE seq = 3").execute(&pool).await.unwrap();
    let verify = run(&["audit", "verify"]);
    assert!(!verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stderr).contains("audit entry 3"), "{}", String::from_utf8_lossy(&verify.stderr));

    // A recorded decision that was altered no longer replays.
    sqlx::query("UPDATE decisions SET decision = replace(decision, '\"needs_review\"', '\"issued\"')").execute(&pool).await.unwrap();
    let replay = run(&["replay", &id]);
    assert!(!replay.status.success());
    assert!(String::from_utf8_lossy(&replay.stdout).contains("NOT reproduced"));
}
