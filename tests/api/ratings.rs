//! 好差评 over the API: a decided case rated once by its owner; a bad rating's work order through
//! each step (and the steps it may not take), escalated once past its due date; an appeal that
//! takes a rating out of the figures; the dashboard's figures moving with them.

use chrono::NaiveDate;
use onewindow::domain::user::Role;
use serde_json::{json, Value};

use crate::helpers::{add_user, add_user_with_id, spawn_app, TestApp};

async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_json(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = app.post_as(token, path, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A clean package the machine issues at once.
async fn issued_case(app: &TestApp, key: &str) -> String {
    let id = app.submit_fixture("clean-catering-stsong", key).await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "issued");
    id
}

#[tokio::test]
async fn a_decided_case_is_rated_once_by_its_owner_and_by_no_one_else() {
    let app = spawn_app().await;
    let draft = app.create_ok(&crate::helpers::Fixture::load("clean-catering-stsong").form).await;
    let rating = json!({"level": 4, "aspects": {"efficiency": 5, "usability": 4}, "comment": "很快"});
    let (status, body) = post_json(&app, &app.token, &format!("/api/v1/applications/{draft}/rating"), rating.clone()).await;
    assert_eq!(status, 409, "not before a decision: {body}");

    let id = issued_case(&app, "k").await;
    let path = format!("/api/v1/applications/{id}/rating");
    let stranger = add_user(&app.state, Role::Applicant).await;
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    assert_eq!(post_json(&app, &stranger, &path, rating.clone()).await.0, 404, "another applicant");
    assert_eq!(post_json(&app, &reviewer, &path, rating.clone()).await.0, 404, "staff do not rate");
    for bad in [json!({"level": 6}), json!({"level": 3, "aspects": {"speed": 3}}), json!({"level": 3, "extra": 1})] {
        let (status, body) = post_json(&app, &app.token, &path, bad.clone()).await;
        assert!(status == 400 || status == 422, "{bad} → {status} {body}");
        assert!(body["error_type"].is_string(), "the stable error body: {body}");
    }
    let (status, body) = post_json(&app, &app.token, &path, rating.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["level"].as_u64(), body["bad"].as_bool(), &body["work_order"]), (Some(4), Some(false), &Value::Null));
    assert_eq!(post_json(&app, &app.token, &path, json!({"level": 1})).await.0, 409, "once");
    let (status, shown) = get_json(&app, &reviewer, &path).await;
    assert_eq!((status, shown["aspects"]["efficiency"].as_u64(), shown["comment"].as_str()), (200, Some(5), Some("很快")));
    assert!(shown.get("rater_id").is_none(), "who rated is not shown");
    assert_eq!(get_json(&app, &stranger, &path).await.0, 404);
}

#[tokio::test]
async fn a_bad_rating_opens_a_work_order_that_is_verified_rectified_called_back_and_graded() {
    let app = spawn_app().await; // today: Tuesday 2026-10-20
    let id = issued_case(&app, "k").await;
    let (status, rated) =
        post_json(&app, &app.token, &format!("/api/v1/applications/{id}/rating"), json!({"level": 2, "comment": "证照打印不清楚"})).await;
    assert_eq!(status, 201, "{rated}");
    let order_id = rated["work_order"].as_i64().expect("a 差评 opens a work order");
    let reviewer = add_user(&app.state, Role::Reviewer).await;
    let admin = add_user(&app.state, Role::Admin).await;

    let (_, list) = get_json(&app, &reviewer, "/api/v1/work-orders?state=open").await;
    let order = &list["work_orders"][0];
    assert_eq!(
        (order["id"].as_i64(), order["state"].as_str(), order["due_on"].as_str()),
        (Some(order_id), Some("open"), Some("2026-10-27"))
    );
    assert_eq!(order["assignee"], Value::Null, "the machine decided: the admins handle it");
    assert_eq!(get_json(&app, &app.token, "/api/v1/work-orders").await.0, 404, "applicants list no work orders");
    let step = |name: &str| format!("/api/v1/work-orders/{order_id}/{name}");

    assert_eq!(post_json(&app, &reviewer, &step("verify"), json!({"founded": true, "text": "属实"})).await.0, 403, "not its handler");
    assert_eq!(post_json(&app, &admin, &step("rectify"), json!({"text": "x"})).await.0, 409, "rectify before verify");
    assert_eq!(post_json(&app, &admin, &step("verify"), json!({"founded": true})).await.0, 400, "a step says what was found");
    assert_eq!(post_json(&app, &admin, &step("verify"), json!({"text": "x"})).await.0, 400, "founded or not");
    assert_eq!(post_json(&app, &admin, &step("fix"), json!({"text": "x"})).await.0, 404);
    for (name, body) in [
        ("verify", json!({"founded": true, "text": "证照字体过小属实"})),
        ("rectify", json!({"text": "证照模板改用四号字"})),
        ("callback", json!({"text": "10月21日电话告知申请人，已重新生成证照"})),
    ] {
        let (status, body) = post_json(&app, &admin, &step(name), body).await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    assert_eq!(post_json(&app, &admin, &step("appeal"), json!({"text": "x"})).await.0, 409, "only an unfounded rating is appealed");
    let (status, closed) = post_json(&app, &app.token, &step("close"), json!({"grade": "satisfied"})).await;
    assert_eq!(status, 200, "the applicant grades the handling: {closed}");
    assert_eq!(
        (closed["state"].as_str(), closed["grade"].as_str(), closed["rectified"].as_bool()),
        (Some("closed"), Some("satisfied"), Some(true))
    );
    let steps: Vec<&str> = closed["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["verify", "rectify", "callback", "close"]);
    assert_eq!(post_json(&app, &admin, &step("rectify"), json!({"text": "again"})).await.0, 409, "a closed order takes no step");
    let (_, seen) = get_json(&app, &app.token, &format!("/api/v1/work-orders/{order_id}")).await;
    assert_eq!((seen["steps"][0]["actor"].as_str(), &seen["steps"][0]["actor_id"]), (Some("工作人员"), &Value::Null), "{seen}");
    let (_, staff_view) = get_json(&app, &admin, &format!("/api/v1/work-orders/{order_id}")).await;
    assert!(staff_view["steps"][0]["actor_id"].is_i64(), "staff see who took each step");
    let stranger = add_user(&app.state, Role::Applicant).await;
    assert_eq!(get_json(&app, &stranger, &format!("/api/v1/work-orders/{order_id}")).await.0, 404, "another applicant");

    let kinds: Vec<String> = app
        .state
        .usecases()
        .store()
        .audit_for(&onewindow::domain::application::ApplicationId::parse(&id).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in ["rating.given", "work_order.opened", "work_order.verify", "work_order.rectify", "work_order.callback", "work_order.close"]
    {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let (_, board) = get_json(&app, &admin, "/api/v1/dashboard").await;
    let overall = &board["overall"];
    assert_eq!(
        (overall["rectification_rate"].as_f64(), overall["callback_rate"].as_f64(), overall["good_rating_rate"].as_f64()),
        (Some(1.0), Some(1.0), Some(0.0))
    );
    app.clock.set_today(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()); // November is over: October is published
    let (status, public) = get_json(&app, &app.token, "/api/v1/dashboard").await;
    assert_eq!((status, public["overall"]["received"].as_u64(), public["overall"]["counted"].as_u64()), (200, Some(1), Some(0)));
    assert!(public["overall"].get("good_rating_rate").is_none(), "one rating is not published: {public}");
}

#[tokio::test]
async fn an_overdue_work_order_is_escalated_once_and_an_upheld_appeal_leaves_the_figures() {
    let app = spawn_app().await;
    let first = issued_case(&app, "k1").await;
    let second = issued_case(&app, "k2").await;
    let rate = |id: &str| format!("/api/v1/applications/{id}/rating");
    assert_eq!(post_json(&app, &app.token, &rate(&first), json!({"level": 5})).await.0, 201);
    let (_, rated) = post_json(&app, &app.token, &rate(&second), json!({"level": 1})).await;
    let order_id = rated["work_order"].as_i64().unwrap();
    let (first_admin, first_admin_id) = add_user_with_id(&app.state, Role::Admin).await;
    let other_admin = add_user(&app.state, Role::Admin).await;
    let third_admin = add_user(&app.state, Role::Admin).await;
    let (_, board) = get_json(&app, &other_admin, "/api/v1/dashboard").await;
    assert_eq!((board["overall"]["good_rating_rate"].as_f64(), board["overall"]["open_work_orders"].as_u64()), (Some(0.5), Some(1)));

    assert!(app.state.usecases().escalate_overdue_work_orders().await.unwrap().is_empty(), "not due yet");
    app.clock.set_today(NaiveDate::from_ymd_opt(2026, 10, 28).unwrap()); // due 2026-10-27
    let (_, overdue) = get_json(&app, &other_admin, "/api/v1/work-orders?state=overdue").await;
    assert_eq!(overdue["work_orders"].as_array().unwrap().len(), 1);
    assert_eq!(app.state.usecases().escalate_overdue_work_orders().await.unwrap(), vec![order_id]);
    assert!(app.state.usecases().escalate_overdue_work_orders().await.unwrap().is_empty(), "once");
    assert_eq!(get_json(&app, &other_admin, &format!("/api/v1/work-orders/{order_id}")).await.1["escalated_on"], "2026-10-28");

    let step = |name: &str| format!("/api/v1/work-orders/{order_id}/{name}");
    assert_eq!(post_json(&app, &first_admin, &step("verify"), json!({"founded": false, "text": "当日即办，未见问题"})).await.0, 200);
    assert_eq!(post_json(&app, &other_admin, &step("appeal"), json!({"text": "评价与办理无关"})).await.0, 200);
    let decide = format!("/api/v1/work-orders/{order_id}/appeal/decision");
    assert_eq!(post_json(&app, &other_admin, &decide, json!({"upheld": true, "text": "x"})).await.0, 403, "not by the one who appealed");
    assert_eq!(post_json(&app, &first_admin, &decide, json!({"upheld": true, "text": "x"})).await.0, 403, "nor by the one who verified");
    let (status, decided) = post_json(&app, &third_admin, &decide, json!({"upheld": true, "text": "与办理无关的恶意差评"})).await;
    assert_eq!((status, decided["state"].as_str()), (200, Some("closed")), "{decided}");
    assert_eq!(decided["rating"]["removed_reason"], "与办理无关的恶意差评", "the reason is kept");
    assert_eq!(decided["steps"][0]["actor_id"].as_i64(), Some(first_admin_id));
    let (_, board) = get_json(&app, &other_admin, "/api/v1/dashboard").await;
    let overall = &board["overall"];
    assert_eq!(
        (overall["good_rating_rate"].as_f64(), overall["removed_ratings"].as_u64(), overall["ratings"].as_u64()),
        (Some(1.0), Some(1), Some(1))
    );
    assert_eq!(overall["open_work_orders"].as_u64(), Some(0));
}

#[tokio::test]
async fn the_dashboard_is_public_by_whole_months_and_counts_what_the_machine_issued() {
    let app = spawn_app().await;
    let issued = issued_case(&app, "k1").await;
    let review = app.submit_fixture("cod-over-b-limit", "k2").await;
    assert_eq!(app.wait_for_decisions(&review, 1).await["state"], "needs_review");
    let auditor = add_user(&app.state, Role::Auditor).await;
    let (status, board) = get_json(&app, &auditor, "/api/v1/dashboard?service=drainage-permit&from=2026-10-20&to=2026-10-20").await;
    assert_eq!(status, 200);
    let overall = &board["overall"];
    assert_eq!((overall["received"].as_u64(), overall["decided"].as_u64(), overall["auto_issued"].as_u64()), (Some(2), Some(1), Some(1)));
    assert_eq!((overall["auto_issue_rate"].as_f64(), overall["on_time_rate"].as_f64()), (Some(0.5), Some(1.0)));
    assert_eq!(overall["time_limit_compression"].as_f64(), Some(1.0), "decided on the day of acceptance");
    assert_eq!((board["from"].as_str(), &board["public_min_count"]), (Some("2026-10-20"), &Value::Null), "staff ask by the day");

    let running: Value = app.client.get(app.url("/api/v1/dashboard?from=2026-10")).send().await.unwrap().json().await.unwrap();
    assert_eq!(running["overall"]["received"].as_u64(), Some(0), "October is not over: not published yet: {running}");
    assert_eq!(running["published_through"], "2026-08-31");
    app.clock.set_today(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()); // November is over: October is published
    let response = app.client.get(app.url("/api/v1/dashboard?service=drainage-permit&from=2026-10-20&to=2026-10-20")).send().await.unwrap();
    assert_eq!(response.status(), 200, "no account needed");
    let public: Value = response.json().await.unwrap();
    assert_eq!((public["from"].as_str(), public["to"].as_str()), (Some("2026-10-01"), Some("2026-10-31")), "the public asks by months");
    assert_eq!(
        (public["overall"]["received"].as_u64(), public["overall"]["counted"].as_u64(), public["public_min_count"].as_u64()),
        (Some(2), Some(0), Some(5))
    );
    for withheld in ["decided", "auto_issue_rate", "on_time_rate", "good_rating_rate", "open_work_orders"] {
        assert!(public["overall"].get(withheld).is_none(), "two cases: {withheld} not published in {public}");
    }
    assert_eq!(public["overall"]["withheld"], json!(["cases", "ratings", "live"]));
    let text = serde_json::to_string(&board).unwrap() + &serde_json::to_string(&public).unwrap();
    assert!(!text.contains(&issued) && !text.contains(&review), "no case is named");
    let by_month: Value = app.client.get(app.url("/api/v1/dashboard?from=2026-10&to=2026-10")).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_month["overall"]["received"].as_u64(), Some(2), "a month as YYYY-MM: {by_month}");
    let later: Value = app.client.get(app.url("/api/v1/dashboard?from=2026-11-01")).send().await.unwrap().json().await.unwrap();
    assert_eq!(later["overall"]["received"].as_u64(), Some(0));
    for bad in ["/api/v1/dashboard?from=yesterday", "/api/v1/dashboard?service=nothing"] {
        let response = app.client.get(app.url(bad)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    let response = app.client.get(app.url("/api/v1/dashboard")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(response.status(), 401, "a bad token is refused, not taken for the public");
}

#[tokio::test]
async fn a_called_back_order_waits_for_the_applicant_and_closes_ungraded_after_its_time() {
    let app = spawn_app().await; // Tuesday 2026-10-20; work orders due in 5 working days, 2026-10-27
    let id = issued_case(&app, "k").await;
    let rate = format!("/api/v1/applications/{id}/rating");
    let (first, second) = tokio::join!(
        post_json(&app, &app.token, &rate, json!({"level": 1, "comment": "太慢"})),
        post_json(&app, &app.token, &rate, json!({"level": 2}))
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "two ratings at once: one stands");
    let order_id = [first.1, second.1].iter().find_map(|b| b["work_order"].as_i64()).unwrap();
    let admin = add_user(&app.state, Role::Admin).await;
    let step = |name: &str| format!("/api/v1/work-orders/{order_id}/{name}");
    app.clock.set_today(NaiveDate::from_ymd_opt(2026, 10, 28).unwrap()); // past its due date 2026-10-27
    let overdue = || async { get_json(&app, &admin, "/api/v1/work-orders?state=overdue").await.1["work_orders"].as_array().unwrap().len() };
    assert_eq!(overdue().await, 1, "not verified in time");
    let (status, body) = post_json(&app, &admin, &step("verify"), json!({"founded": false, "text": "当日办结\u{1b}[2J"})).await;
    assert_eq!((status, body["error_type"].is_string()), (400, true), "control characters in a step's text: {body}");
    assert_eq!(post_json(&app, &admin, &step("verify"), json!({"founded": false, "text": "当日即办"})).await.0, 200);
    assert_eq!(post_json(&app, &admin, &step("callback"), json!({"text": "电话说明"})).await.0, 200);
    assert_eq!(post_json(&app, &admin, &step("close"), json!({"grade": "satisfied"})).await.0, 400, "staff say how the grade was given");
    assert_eq!(post_json(&app, &admin, &step("lapse"), json!({"text": "x"})).await.0, 404, "no route closes it as lapsed");
    let admin_actor = app.state.usecases().actor_for_token(&admin).await.unwrap().unwrap();
    let by_hand = app.state.usecases().work_order_step(&admin_actor, order_id, onewindow::domain::rating::Step::Lapse, "x").await;
    assert!(matches!(by_hand, Err(onewindow::usecases::UseCaseError::Forbidden(_))), "nor does an admin by hand: {by_hand:?}");
    assert_eq!(overdue().await, 0, "called back: the centre's part is done");
    assert!(app.state.usecases().escalate_overdue_work_orders().await.unwrap().is_empty(), "not escalated once called back");
    app.clock.set_today(NaiveDate::from_ymd_opt(2026, 11, 4).unwrap()); // the fifth working day after the call back
    assert!(app.state.usecases().close_ungraded_work_orders().await.unwrap().is_empty(), "the applicant still has today");
    app.clock.set_today(NaiveDate::from_ymd_opt(2026, 11, 5).unwrap());
    assert_eq!(app.state.usecases().close_ungraded_work_orders().await.unwrap(), vec![order_id]);
    assert!(app.state.usecases().close_ungraded_work_orders().await.unwrap().is_empty(), "once");
    let (_, closed) = get_json(&app, &admin, &format!("/api/v1/work-orders/{order_id}")).await;
    assert_eq!((closed["state"].as_str(), &closed["grade"]), (Some("closed"), &Value::Null), "{closed}");
    assert_eq!(closed["steps"][2]["step"], "lapse");
    let (_, board) = get_json(&app, &admin, "/api/v1/dashboard").await;
    let overall = &board["overall"];
    assert_eq!(
        (overall["to_rectify"].as_u64(), overall["rectification_rate"].as_f64(), overall["callback_rate"].as_f64()),
        (Some(0), None, Some(1.0)),
        "an unfounded complaint has nothing to rectify"
    );
}

/// No one judges their own work: the admin who decided (refused) a case may not decide the appeal
/// against its bad rating, though any other admin may.
#[tokio::test]
async fn the_admin_who_decided_a_case_does_not_decide_the_appeal_of_its_rating() {
    let app = spawn_app().await;
    let id = app.submit_fixture("cod-over-b-limit", "k").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    let (decider, decider_id) = add_user_with_id(&app.state, Role::Admin).await;
    assert_eq!(post_json(&app, &decider, &format!("/api/v1/review/{id}/claim"), json!({})).await.0, 200);
    let refusal = json!({"action": "refuse", "reason_code": "refuse.water_quality", "text": "化学需氧量超过B级限值"});
    let (status, body) = post_json(&app, &decider, &format!("/api/v1/review/{id}/decision"), refusal).await;
    assert_eq!(status, 200, "{body}");
    let (_, rated) = post_json(&app, &app.token, &format!("/api/v1/applications/{id}/rating"), json!({"level": 1})).await;
    let order_id = rated["work_order"].as_i64().expect("a work order");
    let (_, order) = get_json(&app, &decider, &format!("/api/v1/work-orders/{order_id}")).await;
    assert_eq!(order["assignee"].as_i64(), Some(decider_id), "assigned to whoever decided the case");
    let (verifier, appellant, judge) =
        (add_user(&app.state, Role::Admin).await, add_user(&app.state, Role::Admin).await, add_user(&app.state, Role::Admin).await);
    let step = |name: &str| format!("/api/v1/work-orders/{order_id}/{name}");
    assert_eq!(post_json(&app, &verifier, &step("verify"), json!({"founded": false, "text": "超标属实，拒绝有据"})).await.0, 200);
    assert_eq!(post_json(&app, &appellant, &step("appeal"), json!({"text": "差评针对依法作出的决定"})).await.0, 200);
    let decide = format!("/api/v1/work-orders/{order_id}/appeal/decision");
    assert_eq!(post_json(&app, &decider, &decide, json!({"upheld": true, "text": "x"})).await.0, 403, "not the one who decided the case");
    assert_eq!(post_json(&app, &judge, &decide, json!({"upheld": false, "text": "评价反映办理感受，不予剔除"})).await.0, 200);
    let (_, board) = get_json(&app, &judge, "/api/v1/dashboard").await;
    assert_eq!(
        (board["overall"]["to_rectify"].as_u64(), board["overall"]["ratings"].as_u64()),
        (Some(1), Some(1)),
        "a dismissed appeal: the order is founded and counts for rectification; the rating stands"
    );
}
