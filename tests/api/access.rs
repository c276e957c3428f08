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

/// Every reviewer and permit endpoint against every role: who gets in, who is refused (401/403),
/// and who is told the case does not exist (404).
#[tokio::test]
async fn review_and_permit_endpoints_admit_exactly_their_roles() {
    let app = spawn_app().await;
    let owner = app.token.clone();
    let in_review = app.submit_fixture("cod-over-b-limit", "k").await;
    let issued = app.submit_fixture("clean-catering-stsong", "k").await;
    app.wait_for_decisions(&in_review, 1).await;
    app.wait_for_decisions(&issued, 1).await;
    let other = add_user(&app.state, Role::Applicant).await;
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    let auditor = add_user(&app.state, Role::Auditor).await;
    let admin = add_user(&app.state, Role::Admin).await;

    let get = |token: Option<&str>, path: String| {
        let mut request = app.client.get(app.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let post = |token: Option<&str>, path: String, body: Value| {
        let mut request = app.client.post(app.url(&path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };

    // The queue.
    for (token, expected) in [(None, 401), (Some(&owner), 403), (Some(&reviewer), 200), (Some(&auditor), 200), (Some(&admin), 200)] {
        assert_eq!(get(token.map(String::as_str), "/api/v1/review/queue".into()).await, expected, "queue {token:?}");
    }
    // Acting on a case: reviewers and admins only.
    let decision = serde_json::json!({"action": "refuse", "reason_code": "refuse.water_quality", "text": "超标"});
    let correction = serde_json::json!({"field": "report.pollutants.cod", "value": 100, "reason": "r"});
    for (path, body) in [
        (format!("/api/v1/review/{in_review}/claim"), serde_json::json!({})),
        (format!("/api/v1/review/{in_review}/release"), serde_json::json!({})),
        (format!("/api/v1/review/{in_review}/decision"), decision),
        (format!("/api/v1/review/{in_review}/corrections"), correction),
    ] {
        assert_eq!(post(None, path.clone(), body.clone()).await, 401, "{path}");
        for token in [&owner, &other, &auditor] {
            assert_eq!(post(Some(token), path.clone(), body.clone()).await, 403, "{path}");
        }
    }
    assert_eq!(post(Some(&reviewer), format!("/api/v1/review/{in_review}/claim"), serde_json::json!({})).await, 200);
    // Nothing an auditor or applicant tried changed the case.
    let application = app.get_application(&in_review).await;
    assert_eq!(application["state"], "needs_review");
    assert!(application["corrections"].as_array().unwrap().is_empty());

    // The certificate: the owner and the office read it; another applicant is told it does not exist.
    let certificate = format!("/api/v1/applications/{issued}/certificate");
    for (token, expected) in [(None, 401), (Some(&owner), 200), (Some(&other), 404), (Some(&reviewer), 200), (Some(&auditor), 200)] {
        assert_eq!(get(token.map(String::as_str), certificate.clone()).await, expected, "certificate {token:?}");
    }
}
