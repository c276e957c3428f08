//! 好差评 on the pages: an applicant rates a decided case and grades how the bad rating was
//! handled; staff step the work order through its forms; the dashboard for anyone, with the
//! work orders' links for staff only.

use serde_json::json;

use super::browser::{staff_account, Browser};
use crate::helpers::spawn_app;

#[tokio::test]
async fn an_applicant_rates_a_refused_case_and_staff_close_the_work_order_on_the_pages() {
    let mut app = spawn_app().await;
    app.token = staff_account(&app, "applicant", "张三", "applicant password 1");
    let reviewer_token = staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    let id = app.submit_fixture("cod-over-b-limit", "k").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    let mut zhang = Browser::new(&app);
    zhang.sign_in("张三", "applicant password 1").await;
    let early = zhang.get(&format!("/applications/{id}/rating")).await;
    assert!(early.status == 200 && early.has("办结") && !early.has("name=\"level\""), "no form before a decision");

    assert_eq!(app.post_as(&reviewer_token, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 200);
    let refused = app
        .post_as(
            &reviewer_token,
            &format!("/api/v1/review/{id}/decision"),
            json!({"action": "refuse", "reason_code": "refuse.water_quality", "text": "化学需氧量620 mg/L，超过B级限值500 mg/L"}),
        )
        .await;
    assert_eq!(refused.status(), 200);
    let case = zhang.get(&format!("/applications/{id}")).await;
    assert!(case.has(&format!("href=\"/applications/{id}/rating\"")), "the decided case offers its rating");
    let form = zhang.get(&format!("/applications/{id}/rating")).await;
    assert!(form.has("name=\"level\"") && form.has("办事效率") && form.has("平台操作性"), "{}", form.body);
    let csrf = form.csrf();
    let missing = zhang.post(&format!("/applications/{id}/rating"), &[("csrf", &csrf), ("comment", "x")]).await;
    assert!(missing.status == 422 && missing.has("class=\"error-summary\"") && missing.has("href=\"#level\""), "{}", missing.body);
    let rated = zhang
        .post(
            &format!("/applications/{id}/rating"),
            &[("csrf", &csrf), ("level", "2"), ("aspect-efficiency", "1"), ("comment", "没有说明怎么整改")],
        )
        .await;
    assert_eq!(rated.status, 303, "{}", rated.body);
    let shown = zhang.get(&format!("/applications/{id}/rating")).await;
    assert!(
        shown.has("不满意") && shown.has("待核实") && !shown.has("name=\"level\""),
        "rated once, the order's state shown: {}",
        shown.body
    );
    assert_eq!(zhang.get("/work-orders").await.status, 404, "applicants see no list of work orders");

    let mut wang = Browser::new(&app);
    wang.sign_in("王芳", "reviewer password 1").await;
    let list = wang.get("/work-orders?state=open").await;
    let order_id = app.state.usecases().store().work_orders().await.unwrap()[0].id;
    assert!(
        list.has(&format!("href=\"/work-orders/{order_id}\"")) && list.has("王芳"),
        "assigned to the reviewer who decided: {}",
        list.body
    );
    let page = wang.get(&format!("/work-orders/{order_id}")).await;
    assert!(page.has("没有说明怎么整改") && page.has("value=\"verify\"") && !page.has("value=\"rectify\""), "{}", page.body);
    let path = format!("/work-orders/{order_id}");
    let csrf = page.csrf();
    let empty = wang.post(&path, &[("csrf", &csrf), ("step", "verify"), ("founded", "true"), ("text", "")]).await;
    assert!(empty.status == 422 && empty.has("href=\"#text-verify\""), "{}", empty.body);
    for pairs in [
        vec![("step", "verify"), ("founded", "true"), ("text", "不予许可决定书未写明整改方向，属实")],
        vec![("step", "rectify"), ("text", "决定书模板增加整改建议一栏")],
        vec![("step", "callback"), ("text", "电话告知申请人整改建议")],
    ] {
        let mut with = vec![("csrf", csrf.as_str())];
        with.extend(pairs);
        let done = wang.post(&path, &with).await;
        assert_eq!(done.status, 303, "{with:?}: {}", done.body);
    }
    let grading = zhang.get(&format!("/applications/{id}/rating")).await;
    assert!(
        grading.has("name=\"grade\"") && grading.has("决定书模板增加整改建议一栏"),
        "the applicant sees what was done: {}",
        grading.body
    );
    let graded =
        zhang.post(&format!("/applications/{id}/rating"), &[("csrf", &grading.csrf()), ("form", "grade"), ("grade", "basic")]).await;
    assert_eq!(graded.status, 303, "{}", graded.body);
    let closed = wang.get(&path).await;
    assert!(closed.has("已办结") && closed.has("基本满意") && !closed.has("name=\"step\""), "{}", closed.body);

    app.clock.set_today(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()); // October is published
    let public = Browser::new(&app).get("/dashboard?from=2026-10-20").await;
    assert_eq!(public.status, 200);
    assert!(public.has("<svg class=\"chart\"") && public.has("差评整改率"), "{}", public.body);
    assert!(public.has("差评整改率</th><td>不公布") && public.has("受理件数</th><td>1<"), "one rating is not published: {}", public.body);
    let early = Browser::new(&app).get("/dashboard?from=2026-12").await;
    assert!(early.has("所选月份尚未公布"), "{}", early.body);
    assert!(public.has("type=\"month\"") && public.has("value=\"2026-10\""), "the public asks by months: {}", public.body);
    assert!(!public.has("/work-orders"), "the public sees no work orders");
    assert!(!public.has(&id) && !public.has("张三") && !public.has("没有说明"), "nor any case or person");
    let staff_view = wang.get("/dashboard?service=drainage-permit").await;
    assert!(staff_view.has("href=\"/work-orders?state=open\""), "staff get the detail");
    assert!(staff_view.has("差评整改率</th><td>100.0%") && !staff_view.has("不公布"), "{}", staff_view.body);
    let bad_filter = wang.get("/dashboard?from=someday").await;
    assert!(bad_filter.status == 200 && bad_filter.has("筛选条件有误"), "{}", bad_filter.body);
}
