//! The reviewer's side: the queue, claims that expire and never overlap, the human decision
//! (issue, refuse in writing, ask for materials), permits with gap-free numbers, and public
//! verification without personal data.

use onewindow::domain::user::Role;
use serde_json::{json, Value};

use crate::helpers::{add_user, add_user_with_id, spawn_app, Fixture};

#[tokio::test]
async fn a_machine_issue_numbers_the_permit_and_anyone_can_verify_it() {
    let app = spawn_app().await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "issued");
    let permit = &application["permit"];
    assert_eq!(permit["number"], "新吴排水许字〔2026〕第0001号");
    assert_eq!(permit["valid_from"], "2026-10-20");
    assert_eq!(permit["valid_to"], "2031-10-19");

    let number = permit["number"].as_str().unwrap();
    let response = app.client.get(app.url(&format!("/api/v1/permits/{number}/verify"))).send().await.unwrap();
    assert_eq!(response.status(), 200, "public: no token needed");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "valid");
    let text = body.to_string();
    assert!(!text.contains("张记") && !text.contains("92320214MA1NB3C47B"), "no holder data: {text}");

    app.clock.set_today(chrono::NaiveDate::from_ymd_opt(2031, 10, 20).unwrap());
    let body: Value = app.client.get(app.url(&format!("/api/v1/permits/{number}/verify"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "expired");
    let response = app.client.get(app.url("/api/v1/permits/no-such-number/verify")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn reviewers_claim_exclusively_and_a_claim_expires() {
    let app = spawn_app().await;
    let id = app.submit_fixture("cod-over-b-limit", "k").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    let first = add_user(&app.state, Role::Reviewer).await;
    let second = add_user(&app.state, Role::Reviewer).await;

    let mut queue_app = app;
    queue_app.token = first.clone();
    let queue: Value = queue_app.get("/api/v1/review/queue?service=drainage-permit").await.json().await.unwrap();
    assert!(queue["queue"].as_array().unwrap().iter().any(|c| c["id"] == id.as_str()));
    let applicant_queue = queue_app
        .client
        .get(queue_app.url("/api/v1/review/queue"))
        .bearer_auth(add_user(&queue_app.state, Role::Applicant).await)
        .send()
        .await
        .unwrap();
    assert_eq!(applicant_queue.status(), 403);

    let app = queue_app;
    assert_eq!(app.post_as(&first, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 200);
    assert_eq!(app.post_as(&second, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 409, "never two holders");
    let decision = json!({"action": "issue", "reason_code": "issue.verified"});
    assert_eq!(
        app.post_as(&second, &format!("/api/v1/review/{id}/decision"), decision.clone()).await.status(),
        409,
        "only the holder decides"
    );

    // The lease runs out: the case is free again.
    app.clock.advance_ms(31 * 60 * 1000);
    assert_eq!(
        app.post_as(&first, &format!("/api/v1/review/{id}/decision"), decision.clone()).await.status(),
        409,
        "an expired claim decides nothing"
    );
    assert_eq!(app.post_as(&second, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 200);
    assert_eq!(app.post_as(&second, &format!("/api/v1/review/{id}/release"), json!({})).await.status(), 200);
    assert_eq!(app.post_as(&first, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 200);
}

#[tokio::test]
async fn many_reviewers_claiming_at_once_get_one_holder() {
    let app = spawn_app().await;
    let id = app.submit_fixture("ph-10-2", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(add_user(&app.state, Role::Reviewer).await);
    }
    let path = format!("/api/v1/review/{id}/claim");
    let claims = tokens.iter().map(|t| app.post_as(t, &path, json!({})));
    let statuses: Vec<u16> = futures_util::future::join_all(claims).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
}

#[tokio::test]
async fn a_reviewer_may_not_review_their_own_application() {
    let mut app = spawn_app().await;
    let (admin, _) = add_user_with_id(&app.state, Role::Admin).await;
    app.token = admin.clone();
    let id = app.submit_fixture("key-discharger-clean", "k").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    let response = app.post_as(&admin, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_refusal_is_written_with_reasons_and_remedies_and_is_logged_with_the_reviewer() {
    let app = spawn_app().await;
    let id = app.submit_fixture("cod-over-b-limit", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    app.post_as(&reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    let path = format!("/api/v1/review/{id}/decision");

    let response = app.post_as(&reviewer, &path, json!({"action": "refuse", "reason_code": "no.such.code", "text": "x"})).await;
    assert_eq!(response.status(), 400, "reason codes are data");
    let response = app.post_as(&reviewer, &path, json!({"action": "refuse", "reason_code": "issue.verified", "text": "x"})).await;
    assert_eq!(response.status(), 400, "a code belongs to one action");
    let response = app.post_as(&reviewer, &path, json!({"action": "refuse", "reason_code": "refuse.water_quality"})).await;
    assert_eq!(response.status(), 400, "a refusal needs its reasons");

    let response = app
        .post_as(
            &reviewer,
            &path,
            json!({"action": "refuse", "reason_code": "refuse.water_quality", "text": "化学需氧量620 mg/L，超过B级限值500 mg/L"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "refused");
    assert_eq!(body["document"]["title"], "不予行政许可决定书");
    assert!(body["document"]["remedies"].as_str().unwrap().contains("行政复议"));
    assert!(body["document"]["remedies"].as_str().unwrap().contains("行政诉讼"));
    assert!(body["permit"].is_null());

    let application = app.get_application(&id).await;
    assert_eq!(application["state"], "refused");
    assert_eq!(application["reviews"][0]["reason_code"], "refuse.water_quality");
    let history: Vec<(String, String)> = application["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["actor"].as_str().unwrap().to_string()))
        .collect();
    assert!(history.iter().any(|(k, a)| k == "review.claimed" && a.starts_with("reviewer:")), "{history:?}");
    assert!(history.iter().any(|(k, a)| k == "review.decided" && a.starts_with("reviewer:")), "{history:?}");
    assert_eq!(
        app.post_as(&reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(),
        409,
        "decided cases leave the queue"
    );
}

#[tokio::test]
async fn asking_for_materials_sends_the_case_back_and_it_returns_after_resubmission() {
    let app = spawn_app().await;
    let fixture = Fixture::load("report-client-other-company");
    let id = app.submit_fixture("report-client-other-company", "k1").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    app.post_as(&reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    let path = format!("/api/v1/review/{id}/decision");
    let bad = app
        .post_as(
            &reviewer,
            &path,
            json!({"action": "request_materials", "reason_code": "materials.unclear", "missing_materials": ["nonsense"]}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let response = app
        .post_as(
            &reviewer,
            &path,
            json!({"action": "request_materials", "reason_code": "materials.unclear", "text": "检测报告委托单位与申请人不符", "missing_materials": ["water_quality_report"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["state"], "needs_materials");
    assert!(body["document"]["message"].as_str().unwrap().contains("水质检测报告"));

    // The applicant adds a document to the same application and submits again.
    assert_eq!(app.upload(&id, &fixture.files[..1]).await.status(), 201);
    assert_eq!(app.submit(&id, "k2").await.status(), 202);
    let application = app.wait_for_decisions(&id, 2).await;
    assert_eq!(application["submissions"], 2);
}

#[tokio::test]
async fn a_reviewer_issue_numbers_the_permit_and_concurrent_issues_get_consecutive_numbers() {
    let app = spawn_app().await;
    // On the package's own date, so that the site check is the one rule left for the reviewer.
    app.clock.set_today(Fixture::load("key-discharger-clean").at());
    let id = app.submit_fixture("key-discharger-clean", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let mut ids = Vec::new();
    for idx in 0..5 {
        ids.push(app.submit_fixture("clean-hotel-libreoffice-tables", &format!("k{idx}")).await);
    }
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    app.post_as(&reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    let response = app
        .post_as(&reviewer, &format!("/api/v1/review/{id}/decision"), json!({"action": "issue", "reason_code": "issue.site_check_passed"}))
        .await;
    let status = response.status();
    let response_text = response.text().await.unwrap();
    assert_eq!(status, 200, "{response_text}");
    let response: Value = serde_json::from_str(&response_text).unwrap();
    let mut numbers = vec![response["permit"]["number"].as_str().unwrap().to_string()];
    for other in &ids {
        let application = app.wait_for_decisions(other, 1).await;
        assert_eq!(application["state"], "issued");
        numbers.push(application["permit"]["number"].as_str().unwrap().to_string());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=6).map(|n| format!("新吴排水许字〔2026〕第{n:04}号")).collect();
    assert_eq!(numbers, expected, "unique and gap-free");
}

#[tokio::test]
async fn a_correction_is_recorded_with_its_reason_and_the_rules_run_again() {
    let app = spawn_app().await;
    let fixture = Fixture::load("licence-name-mismatch");
    let id = app.submit_fixture("licence-name-mismatch", "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert!(crate::helpers::finding_rules(&application["decision"]).contains(&"licence.name_matches".to_string()));
    let read_name = application["decision"]["fields"]["licence.name"]["value"].clone();
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    let path = format!("/api/v1/review/{id}/corrections");
    let correction =
        json!({"field": "licence.name", "value": fixture.form["applicant_name"], "reason": "执照照片核对，名称实为申请人名称"});
    assert_eq!(app.post_as(&reviewer, &path, correction.clone()).await.status(), 409, "claim first");
    app.post_as(&reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await;
    let unknown = app.post_as(&reviewer, &path, json!({"field": "licence.colour", "value": "x", "reason": "r"})).await;
    assert_eq!(unknown.status(), 400);
    let response = app.post_as(&reviewer, &path, correction).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["original"], read_name);
    let field = &body["decision"]["fields"]["licence.name"];
    assert_eq!(field["source"], "correction");
    assert_eq!(field["corrected_from"], read_name);
    assert!(!crate::helpers::finding_rules(&body["decision"]).contains(&"licence.name_matches".to_string()));

    let application = app.get_application(&id).await;
    assert_eq!(application["corrections"][0]["reason"], "执照照片核对，名称实为申请人名称");
    assert_eq!(application["decision"]["fields"]["licence.name"]["value"], read_name, "the machine's reading stays on record");
    assert!(application["history"].as_array().unwrap().iter().any(|e| e["kind"] == "field.corrected"));
}

#[tokio::test]
async fn reviewers_taking_the_next_case_at_once_get_distinct_cases() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (idx, name) in ["cod-over-b-limit", "ph-10-2", "ammonia-over", "licence-name-mismatch"].iter().enumerate() {
        let id = app.submit_fixture(name, &format!("k{idx}")).await;
        assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review", "{name}");
        ids.push(id);
    }
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(add_user(&app.state, Role::Reviewer).await);
    }
    let requests = tokens.iter().map(|t| app.post_as(t, "/api/v1/review/next", json!({})));
    let responses = futures_util::future::join_all(requests).await;
    let mut claimed = Vec::new();
    let mut empty = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => claimed.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()),
            404 => empty += 1,
            other => panic!("unexpected {other}"),
        }
    }
    claimed.sort();
    ids.sort();
    assert_eq!(claimed, ids, "four reviewers, four different cases");
    assert_eq!(empty, 1, "the fifth finds the queue empty");
}

#[tokio::test]
async fn a_person_revokes_a_permit_with_a_reason_and_verification_shows_it() {
    let app = spawn_app().await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    let number = application["permit"]["number"].as_str().unwrap().to_string();
    let path = format!("/api/v1/permits/{number}/revoke");
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    let auditor = add_user(&app.state, Role::Auditor).await;

    assert_eq!(app.post_as(&app.token, &path, json!({"reason": "x"})).await.status(), 403, "not the applicant");
    assert_eq!(app.post_as(&auditor, &path, json!({"reason": "x"})).await.status(), 403, "auditors change nothing");
    assert_eq!(app.post_as(&reviewer, &path, json!({"reason": " "})).await.status(), 400, "a reason is required");
    let response = app.post_as(&reviewer, &path, json!({"reason": "以欺骗手段取得许可（行政许可法 第六十九条）"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.post_as(&reviewer, &path, json!({"reason": "again"})).await.status(), 409);

    let verify: Value = app.client.get(app.url(&format!("/api/v1/permits/{number}/verify"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(verify["status"], "revoked");
    // The certificate of a revoked permit is no longer served.
    let certificate = app.get(&format!("/api/v1/applications/{id}/certificate")).await;
    assert_eq!(certificate.status(), 410);
    assert_eq!(certificate.json::<Value>().await.unwrap()["error_type"], "gone");
    let history = app.get_application(&id).await["history"].clone();
    assert!(history
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "permit.revoked" && e["actor"].as_str().unwrap().starts_with("reviewer:")));
}
