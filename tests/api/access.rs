//! Roles and access on the API: applicants see only their own applications, reviewers and auditors
//! read and change nothing of the applicant's, and every denial leaks nothing.

use std::process::Command;

use onewindow::domain::user::Role;
use serde_json::Value;

use crate::helpers::{add_user, onewindow_exe, spawn_app, Fixture};

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let response = app
        .client
        .post(app.url("/api/v1/applications"))
        .json(&serde_json::json!({"service": "drainage-permit", "form": fixture.form}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["error_type"], "unauthorized");
    let response = app.client.get(app.url("/api/v1/applications/x")).bearer_auth("ow_not-a-token").send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200, "health needs no token");
}

#[tokio::test]
async fn each_role_gets_exactly_its_access() {
    let mut app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let owner = app.token.clone();
    let id = app.create_ok(&fixture.form).await;
    assert_eq!(app.upload(&id, &fixture.files[..1]).await.status(), 201);

    // Another applicant: the application does not exist for them.
    app.token = add_user(&app.state, Role::Applicant).await;
    for path in [
        format!("/api/v1/applications/{id}"),
        format!("/api/v1/applications/{id}/decision"),
        format!("/api/v1/applications/{id}/decisions"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(fixture.form["applicant_name"].as_str().unwrap()), "no data leaks: {body}");
    }
    assert_eq!(app.upload(&id, &fixture.files[..1]).await.status(), 404);
    assert_eq!(app.submit(&id, "k").await.status(), 404);

    // Reviewers and auditors read everything and change nothing of the applicant's.
    for role in [Role::Reviewer, Role::Auditor] {
        app.token = add_user(&app.state, role).await;
        let response = app.get(&format!("/api/v1/applications/{id}")).await;
        assert_eq!(response.status(), 200, "{role:?} reads");
        assert_eq!(app.create_application("drainage-permit", &fixture.form).await.status(), 403, "{role:?} creates");
        assert_eq!(app.upload(&id, &fixture.files[..1]).await.status(), 403, "{role:?} uploads");
        assert_eq!(app.submit(&id, "k").await.status(), 403, "{role:?} submits");
    }

    // The owner still can.
    app.token = owner;
    assert_eq!(app.get(&format!("/api/v1/applications/{id}")).await.status(), 200);
    assert_eq!(
        app.get(&format!("/api/v1/applications/{id}")).await.json::<Value>().await.unwrap()["documents"].as_array().unwrap().len(),
        1
    );
}

#[test]
fn users_add_prints_the_token_once_and_stores_only_its_hash() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| Command::new(onewindow_exe()).args(args).arg("--data-dir").arg(data.path()).output().unwrap();
    let output = run(&["users", "add", "--role", "reviewer", "王芳"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let token = stdout.trim_end().lines().last().unwrap().to_string();
    assert!(token.starts_with("ow_"), "{stdout}");
    let database = std::fs::read(data.path().join("onewindow.db")).unwrap();
    let wal = std::fs::read(data.path().join("onewindow.db-wal")).unwrap_or_default();
    let needle = token.as_bytes();
    assert!(
        !database.windows(needle.len()).any(|w| w == needle) && !wal.windows(needle.len()).any(|w| w == needle),
        "the token itself is not stored"
    );

    let again = run(&["users", "add", "--role", "reviewer", "王芳"]);
    assert!(!again.status.success(), "a name is unique");
    let bad_role = run(&["users", "add", "--role", "boss", "李雷"]);
    assert!(!bad_role.status.success());
}
