//! The auditor's pages: the log by time and by application, verification from the page (a changed
//! byte named), replay with the difference shown, export; and who may see them.

use super::browser::{staff_account, Browser};
use crate::helpers::{data_db, spawn_app};

#[tokio::test]
async fn an_auditor_browses_verifies_replays_and_exports_the_log() {
    let app = spawn_app().await;
    let id = app.submit_fixture("ph-10-2", "k").await;
    app.wait_for_decisions(&id, 1).await;
    staff_account(&app, "auditor", "赵审", "auditor password 1");
    let mut auditor = Browser::new(&app);
    assert_eq!(auditor.sign_in("赵审", "auditor password 1").await.location.as_deref(), Some("/audit"));
    let log = auditor.get("/audit").await;
    assert_eq!(log.status, 200);
    assert!(log.has("application.decided") && log.has("user.signed_in"), "the newest entries, sign-ins among them");
    assert!(log.find_before("user.signed_in", "application.decided"), "newest first");
    let by_case = auditor.get(&format!("/audit?application={id}")).await;
    assert!(by_case.has("application.created") && !by_case.has("user.signed_in"), "one application's entries only");

    let csrf = log.csrf();
    let verified = auditor.post("/audit/verify", &[("csrf", &csrf)]).await;
    assert!(verified.has("审计日志校验通过") && verified.has("哈希链完整"), "{}", verified.body);
    let replayed = auditor.post("/audit/replay", &[("csrf", &csrf), ("application", &id)]).await;
    assert!(replayed.has("全部重现") && replayed.has("逐字节重现"), "{}", replayed.body);

    let export = auditor.get("/audit/export").await;
    assert_eq!(export.status, 200);
    assert!(export.content_type.starts_with("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = export.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 5 && lines[0]["seq"] == 1);
    assert!(lines.iter().any(|e| e["kind"] == "application.decided"));

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&app.data_dir).display())).await.unwrap();
    sqlx::query("UPDATE decisions SET decision = replace(decision, '\"needs_review\"', '\"issued\"')").execute(&pool).await.unwrap();
    let replayed = auditor.post("/audit/replay", &[("csrf", &csrf), ("application", &id)]).await;
    assert!(replayed.has("未能重现") && replayed.has("`outcome`") && replayed.has("记录的值：&#34;issued&#34;"), "{}", replayed.body);
    sqlx::query("UPDATE audit_log SET payload = replace(payload, 'pdf', 'pdF') WHERE seq = 3").execute(&pool).await.unwrap();
    let verified = auditor.post("/audit/verify", &[("csrf", &csrf)]).await;
    assert!(verified.has("审计日志校验未通过") && verified.has("audit entry 3"), "{}", verified.body);

    assert_eq!(auditor.post("/audit/verify", &[]).await.status, 403, "verification is asked with the form's token");
    staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    let mut reviewer = Browser::new(&app);
    reviewer.sign_in("王芳", "reviewer password 1").await;
    assert_eq!(reviewer.get("/audit").await.status, 403);
    assert_eq!(reviewer.get("/audit/export").await.status, 403);
    let mut anonymous = Browser::new(&app);
    assert_eq!(anonymous.get("/audit/export").await.location.as_deref(), Some("/login?next=/audit"));
}
