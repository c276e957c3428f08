//! 好差评 in a real browser: an applicant on a phone rates a refused case 不满意; the reviewer who
//! decided it finds the work order, verifies, rectifies and calls back, records the applicant's
//! grade; and the dashboard's 差评整改率 moves from 0 to 100% for staff, while the public sees no
//! figure counted from one rating.

use serde_json::json;

use crate::helpers::spawn_app;
use crate::pages::staff_account;

#[tokio::test]
async fn an_applicant_rates_a_case_badly_and_the_reviewer_closes_the_work_order_with_a_call_back() {
    let mut app = spawn_app().await;
    app.token = staff_account(&app, "applicant", "张三", "applicant password 1");
    let reviewer = staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    let Some(phone) = super::browser(&app.address, 390, 844).await else { return };
    let id = app.submit_fixture("cod-over-b-limit", "k").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    assert_eq!(app.post_as(&reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 200);
    let body = json!({"action": "refuse", "reason_code": "refuse.water_quality", "text": "化学需氧量620 mg/L，超过B级限值500 mg/L"});
    assert_eq!(app.post_as(&reviewer, &format!("/api/v1/review/{id}/decision"), body).await.status(), 200);

    phone.open("/login").await;
    phone.fill("#name", "张三").await;
    phone.fill("#password", "applicant password 1").await;
    phone.click("form[action='/login'] button[type=submit]").await;
    phone.wait_for_path("/my").await;
    phone.open(&format!("/applications/{id}")).await;
    phone.click(&format!("a[href='/applications/{id}/rating']")).await;
    phone.wait_for_path(&format!("/applications/{id}/rating")).await;
    phone.look("rating-01-form").await;
    phone.click("#level-2").await;
    phone.click("#aspect-guide_accuracy-2").await;
    phone.fill("#comment", "不予许可决定书没有说明怎么整改").await;
    phone.click("form[action$='/rating'] button").await;
    phone.wait_for_text("待核实", std::time::Duration::from_secs(10)).await;
    phone.look("rating-02-rated").await;

    app.clock.set_today(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()); // October is published
    phone.open("/dashboard").await;
    let public = phone.text().await;
    assert!(public.contains("受理件数\t1") && public.contains("差评整改率\t不公布"), "one rating is not published:\n{public}");
    phone.look("dashboard-01-phone").await;

    let Some(desk) = super::browser(&app.address, 1280, 900).await else { return };
    desk.open("/login").await;
    desk.fill("#name", "王芳").await;
    desk.fill("#password", "reviewer password 1").await;
    desk.click("form[action='/login'] button[type=submit]").await;
    desk.wait_for_path("/review").await;
    desk.open("/dashboard").await;
    let before = desk.text().await;
    assert!(before.contains("差评整改率\t0.0%"), "one bad rating, not yet rectified:\n{before}");
    desk.open("/review").await;
    desk.click("a[href='/work-orders']").await;
    desk.wait_for_path("/work-orders").await;
    desk.look("work-orders-01-list").await;
    desk.click("a[href^='/work-orders/']").await;
    desk.wait_for("input[value=verify]").await;
    desk.look("work-orders-02-order").await;
    desk.click("#verify-yes").await;
    desk.fill("#text-verify", "决定书未写明整改方向，属实").await;
    desk.click("input[value=verify] ~ button").await;
    desk.wait_for("#text-rectify").await;
    desk.fill("#text-rectify", "决定书增加整改建议").await;
    desk.click("input[value=rectify] ~ button").await;
    desk.wait_for("#text-callback").await;
    desk.fill("#text-callback", "电话告知申请人整改建议，申请人表示基本满意").await;
    desk.click("input[value=callback] ~ button").await;
    desk.wait_for("#close-grade-2").await;
    desk.click("#close-grade-2").await;
    desk.fill("#text-close", "电话回访时申请人表示基本满意").await;
    desk.click("input[value=close] ~ button").await;
    desk.wait_for_text("已办结", std::time::Duration::from_secs(10)).await;
    desk.look("work-orders-03-closed").await;

    desk.open("/dashboard").await;
    let after = desk.text().await;
    assert!(after.contains("差评整改率\t100.0%") && after.contains("差评回访率\t100.0%"), "{after}");
}
