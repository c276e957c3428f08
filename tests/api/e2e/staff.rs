//! Staff in a desktop-sized window: a reviewer claims a flagged case, corrects a reading and
//! issues after seeing the notice; an auditor verifies the log and replays a decision.

use std::time::Duration;

use crate::helpers::{spawn_app, Fixture};
use crate::pages::staff_account;

#[tokio::test]
async fn a_reviewer_claims_corrects_and_issues_and_an_auditor_verifies_and_replays() {
    let app = spawn_app().await;
    let Some(browser) = super::browser(&app.address, 1280, 900).await else { return };
    let fixture = Fixture::load("licence-name-mismatch");
    let id = app.submit_fixture("licence-name-mismatch", "k").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    staff_account(&app, "auditor", "赵审", "auditor password 1");

    browser.open("/login").await;
    browser.look("reviewer-01-login").await;
    browser.fill("#name", "王芳").await;
    browser.fill("#password", "reviewer password 1").await;
    browser.click("form[action='/login'] button[type=submit]").await;
    browser.wait_for_path("/review").await;
    browser.look("reviewer-02-queue").await;
    browser.click("form[action='/review/next'] button").await;
    browser.wait_for_path(&format!("/review/{id}")).await;
    browser.look("reviewer-03-case").await;

    browser.client.execute("document.getElementById('correction').value = 'licence.name'", vec![]).await.unwrap();
    browser.fill("#value", fixture.form["applicant_name"].as_str().unwrap()).await;
    browser.fill("#reason", "对照执照原件核对").await;
    browser.click("form[action$='/corrections'] button").await;
    browser.wait_for_text("原识别：", Duration::from_secs(10)).await;
    browser.click("#action").await;
    browser.client.execute("document.getElementById('reason_code').value = 'issue.reading_corrected'", vec![]).await.unwrap();
    browser.click("form[action$='/preview'] button").await;
    browser.wait_for("form[action$='/decision']").await;
    assert!(browser.text().await.contains("准予行政许可"), "{}", browser.text().await);
    browser.look("reviewer-04-preview").await;
    browser.click("form[action$='/decision'] button").await;
    browser.wait_for_text("已办结：准予许可", Duration::from_secs(10)).await;
    browser.look("reviewer-05-issued").await;
    browser.click("form[action='/logout'] button").await;
    browser.wait_for("a[href='/signup']").await;

    browser.open("/login").await;
    browser.fill("#name", "赵审").await;
    browser.fill("#password", "auditor password 1").await;
    browser.click("form[action='/login'] button[type=submit]").await;
    browser.wait_for_path("/audit").await;
    browser.look("auditor-01-log").await;
    browser.click("form[action='/audit/verify'] button").await;
    browser.wait_for_path("/audit/verify").await;
    assert!(browser.text().await.contains("审计日志校验通过"));
    browser.look("auditor-02-verified").await;
    browser.open("/audit").await;
    browser.fill("#replay-application", &id).await;
    browser.click("form[action='/audit/replay'] button").await;
    browser.wait_for_path("/audit/replay").await;
    assert!(browser.text().await.contains("全部重现"), "{}", browser.text().await);
    browser.look("auditor-03-replayed").await;
}
