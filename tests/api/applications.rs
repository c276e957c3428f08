//! The applicant's HTTP flow: create, upload, submit (idempotent), decision, and 补正 after
//! `needs_materials`.

use serde_json::{json, Value};

use crate::helpers::{finding_rules, spawn_app, Fixture};

#[tokio::test]
async fn a_clean_application_is_issued_by_the_background_worker() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let id = app.create_ok(&fixture.form).await;
    let response = app.upload(&id, &fixture.files).await;
    assert_eq!(response.status(), 201);
    let response = app.submit(&id, "first").await;
    assert_eq!(response.status(), 202);
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "issued", "{}", application["decision"]);
    assert_eq!(application["decision"]["outcome"], "issued");
    assert_eq!(application["documents"].as_array().unwrap().len(), 5);
    let decision: Value = app.get(&format!("/api/v1/applications/{id}/decision")).await.json().await.unwrap();
    assert_eq!(decision, application["decision"]);
}

#[tokio::test]
async fn a_repeated_submit_never_creates_a_second_case() {
    let app = spawn_app().await;
    let fixture = Fixture::load("cod-over-b-limit");
    let id = app.create_ok(&fixture.form).await;
    app.upload(&id, &fixture.files).await;
    let first: Value = app.submit(&id, "same-key").await.json().await.unwrap();
    let again = app.submit(&id, "same-key").await;
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["submission"], again["submission"]);
    assert_eq!(again["repeated"], true);
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "needs_review");
    // A retried request after the decision still answers with the same submission.
    let late: Value = app.submit(&id, "same-key").await.json().await.unwrap();
    assert_eq!(late["submission"], 1);
    assert_eq!(app.get_application(&id).await["decisions"].as_array().unwrap().len(), 1);
    // A new key on a decided case is a conflict, not a second case.
    assert_eq!(app.submit(&id, "another-key").await.status(), 409);
}

#[tokio::test]
async fn after_needs_materials_the_applicant_adds_to_the_same_application() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let (report, rest): (Vec<_>, Vec<_>) = fixture.files.iter().cloned().partition(|(name, _)| name.contains("水质"));
    let id = app.create_ok(&fixture.form).await;
    app.upload(&id, &rest).await;
    app.submit(&id, "k1").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "needs_materials");
    assert_eq!(application["decision"]["missing_materials"], json!(["water_quality_report"]));

    assert_eq!(app.upload(&id, &report).await.status(), 201);
    assert_eq!(app.submit(&id, "k2").await.status(), 202);
    let application = app.wait_for_decisions(&id, 2).await;
    assert_eq!(application["state"], "issued", "{}", application["decision"]);
    let history: Value = app.get(&format!("/api/v1/applications/{id}/decisions")).await.json().await.unwrap();
    let outcomes: Vec<&Value> = history["decisions"].as_array().unwrap().iter().map(|d| &d["decision"]["outcome"]).collect();
    assert_eq!(outcomes, vec!["needs_materials", "issued"], "both decisions stay on record");
}

#[tokio::test]
async fn unknown_service_and_bad_forms_get_the_error_body() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");

    let response = app.create_application("no-such-service", &fixture.form).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "unknown_service");
    assert!(body["error"].is_string());

    let mut form = fixture.form.clone();
    form.as_object_mut().unwrap().remove("credit_code");
    form["plant_grade"] = json!("D");
    form["outlets"][0]["kind"] = json!("sideways");
    let response = app.create_application("drainage-permit", &form).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "invalid_form");
    let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["credit_code", "outlets[0].kind", "plant_grade"]);

    let response = app
        .client
        .post(app.url("/api/v1/applications"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"service\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(response.json::<Value>().await.unwrap()["error_type"], "invalid_json");

    let response = app.get("/api/v1/applications/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error_type"], "not_found");

    let id = app.create_ok(&fixture.form).await;
    let response = app.client.post(app.url(&format!("/api/v1/applications/{id}/submit"))).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 400, "no Idempotency-Key");
}

#[tokio::test]
async fn health_reports_ready_with_the_rule_set() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert!(body["ruleset"].as_str().unwrap().starts_with("sha256:"));
    let _ = finding_rules;
}

#[tokio::test]
async fn the_openapi_document_is_served_and_names_every_route() {
    let app = spawn_app().await;
    let document: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/api/v1/applications",
        "/api/v1/applications/{id}",
        "/api/v1/applications/{id}/documents",
        "/api/v1/applications/{id}/submit",
        "/api/v1/applications/{id}/decision",
        "/api/v1/applications/{id}/decisions",
        "/api/v1/applications/{id}/certificate",
        "/api/v1/review/queue",
        "/api/v1/review/{id}/claim",
        "/api/v1/review/{id}/release",
        "/api/v1/review/{id}/decision",
        "/api/v1/review/{id}/corrections",
        "/api/v1/permits/{number}/verify",
        "/verify/{number}",
        "/api/v1/applications/{id}/rating",
        "/api/v1/work-orders",
        "/api/v1/work-orders/{id}",
        "/api/v1/work-orders/{id}/{step}",
        "/api/v1/work-orders/{id}/appeal/decision",
        "/api/v1/dashboard",
        "/api/v1/audit/checkpoint",
        "/api/v1/audit/entries",
        "/api/v1/audit/key",
        "/api/v1/audit/proof/inclusion",
        "/api/v1/audit/proof/consistency",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    let error_types = &document["components"]["schemas"]["Error"]["properties"]["error_type"]["enum"];
    assert!(error_types.as_array().unwrap().iter().any(|t| t == "invalid_form"));
}

/// Regression (review of 2026-11-28): one unreadable file used to block the case for good, since
/// every submission took every document. The applicant withdraws it and submits again.
#[tokio::test]
async fn a_broken_file_is_withdrawn_and_the_case_goes_through() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let id = app.create_ok(&fixture.form).await;
    let mut files = fixture.files.clone();
    let broken = fixture.files[0].1[..fixture.files[0].1.len() / 3].to_vec();
    files.push(("扫描件.pdf".into(), broken));
    app.upload(&id, &files).await;
    app.submit(&id, "k1").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "needs_materials");
    let broken_id =
        application["documents"].as_array().unwrap().iter().find(|d| d["file_name"] == "扫描件.pdf").unwrap()["id"].as_i64().unwrap();

    let other = crate::helpers::add_user(&app.state, onewindow::domain::user::Role::Applicant).await;
    let path = format!("/api/v1/applications/{id}/documents/{broken_id}");
    assert_eq!(app.client.delete(app.url(&path)).bearer_auth(&other).send().await.unwrap().status(), 404, "not theirs");
    assert_eq!(app.client.delete(app.url(&path)).bearer_auth(&app.token).send().await.unwrap().status(), 200);
    assert_eq!(app.client.delete(app.url(&path)).bearer_auth(&app.token).send().await.unwrap().status(), 404, "already withdrawn");

    app.submit(&id, "k2").await;
    let application = app.wait_for_decisions(&id, 2).await;
    assert_eq!(application["state"], "issued", "{}", application["decision"]["findings"]);
    assert_eq!(application["decision"]["documents"].as_array().unwrap().len(), 5, "the withdrawn file is not part of it");
    let withdrawn = application["documents"].as_array().unwrap().iter().find(|d| d["id"] == broken_id).unwrap();
    assert!(withdrawn["withdrawn_at"].is_string(), "but stays on record");
    assert_eq!(app.client.delete(app.url(&path)).bearer_auth(&app.token).send().await.unwrap().status(), 409, "closed once issued");
}
