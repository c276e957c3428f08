//! Deadlines in working days from acceptance, paused while the office waits for the applicant,
//! visible in the queue, and escalated once the promised limit passes (shown with a moved clock).

use chrono::NaiveDate;
use onewindow::domain::user::Role;
use serde_json::Value;

use crate::helpers::{add_user, spawn_app, Fixture};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[tokio::test]
async fn a_case_in_review_shows_its_limits_and_is_escalated_once_when_the_promise_passes() {
    let app = spawn_app().await; // today: Tuesday 2026-10-20
    let id = app.submit_fixture("cod-over-b-limit", "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    let deadlines = &application["deadlines"];
    assert_eq!(deadlines["accepted_on"], "2026-10-20");
    assert_eq!(deadlines["promised_due"], "2026-10-21", "promise: 1 working day");
    assert_eq!(deadlines["legal_due"], "2026-11-10", "law: 15 working days");
    assert_eq!(deadlines["status"], "due_soon");

    let reviewer = add_user(&app.state, Role::Reviewer).await;
    let queue: Value =
        app.client.get(app.url("/api/v1/review/queue?due=due_soon")).bearer_auth(&reviewer).send().await.unwrap().json().await.unwrap();
    assert!(queue["queue"].as_array().unwrap().iter().any(|c| c["id"] == id.as_str()), "{queue}");

    assert!(app.state.usecases().escalate_overdue().await.unwrap().is_empty(), "not yet overdue");
    app.clock.set_today(d(2026, 10, 22));
    let queue: Value =
        app.client.get(app.url("/api/v1/review/queue?due=overdue")).bearer_auth(&reviewer).send().await.unwrap().json().await.unwrap();
    assert_eq!(queue["queue"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.state.usecases().escalate_overdue().await.unwrap(),
        vec![onewindow::domain::application::ApplicationId::parse(&id).unwrap()],
        "the escalation fires"
    );
    assert!(app.state.usecases().escalate_overdue().await.unwrap().is_empty(), "once");
    let application = app.get_application(&id).await;
    assert_eq!(application["escalated_on"], "2026-10-22");
    assert_eq!(application["history"].as_array().unwrap().iter().filter(|e| e["kind"] == "case.escalated").count(), 1);
}

#[tokio::test]
async fn the_clock_stands_still_while_waiting_for_the_applicant() {
    let app = spawn_app().await; // Tuesday 2026-10-20
    let fixture = Fixture::load("clean-catering-stsong");
    let (report, rest): (Vec<_>, Vec<_>) = fixture.files.iter().cloned().partition(|(name, _)| name.contains("水质"));
    let id = app.create_ok(&fixture.form).await;
    app.upload(&id, &rest).await;
    app.submit(&id, "k1").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_materials");

    // A week later (5 working days) the applicant has not come back: the limits move with the wait.
    app.clock.set_today(d(2026, 10, 27));
    let deadlines = app.get_application(&id).await["deadlines"].clone();
    assert_eq!(deadlines["paused_days"], 5);
    assert_eq!(deadlines["promised_due"], "2026-10-28");
    assert!(app.state.usecases().escalate_overdue().await.unwrap().is_empty(), "waiting cases are not the office's delay");

    app.upload(&id, &report).await;
    app.submit(&id, "k2").await;
    let application = app.wait_for_decisions(&id, 2).await;
    assert_eq!(application["deadlines"]["paused_days"], 5, "the pause is kept after resubmission");
    assert_eq!(application["deadlines"]["accepted_on"], "2026-10-20", "accepted on the first submission");
}
