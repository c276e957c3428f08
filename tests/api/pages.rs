//! The pages over HTTP: each page's status and the elements a user relies on, CSRF refusals,
//! access for each role, sign-in throttling and session expiry.

mod applicant;
mod auditor;
mod browser;
mod ratings;
mod reviewer;

pub use browser::staff_account;
use browser::Browser;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_applicant_signs_up_and_gets_a_session_cookie_that_scripts_cannot_read() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.content_type.starts_with("text/html"));
    assert!(home.has("城镇污水排入排水管网许可证核发") && home.has("href=\"/apply/drainage-permit\""), "every service is listed");
    assert!(home.has("lang=\"zh-CN\"") && home.has("href=\"#main\""), "language and skip link");
    let visitor = browser.set_cookies.iter().find(|c| c.starts_with("ow_visitor=")).expect("a visitor cookie").clone();
    assert!(visitor.contains("HttpOnly") && visitor.contains("SameSite=Lax") && visitor.contains("Secure"), "{visitor}");

    browser.sign_up("无锡市某餐饮店").await;
    let session = browser.set_cookies.iter().find(|c| c.starts_with("ow_session=")).expect("a session cookie").clone();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Secure"), "{session}");
    let my = browser.get("/my").await;
    assert_eq!(my.status, 200);
    assert!(my.has("无锡市某餐饮店（申请人）") && my.has("您还没有提交过申请"));
}

#[tokio::test]
async fn a_sign_up_with_problems_names_each_field_in_the_error_summary() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let csrf = browser.get("/signup").await.csrf();
    let page = browser.post("/signup", &[("csrf", &csrf), ("name", "张三"), ("phone", "0510-1234"), ("password", "short")]).await;
    assert_eq!(page.status, 422);
    assert!(page.has("class=\"error-summary\"") && page.has("href=\"#phone\"") && page.has("href=\"#password\""), "{}", page.body);
    assert!(page.has("aria-invalid=\"true\"") && page.has("value=\"张三\""), "the name typed is kept");
    assert!(!page.has("value=\"short\""), "a password is never sent back");
    browser.sign_up("张三").await;
    let mut other = Browser::new(&app);
    let csrf = other.get("/signup").await.csrf();
    let taken =
        other.post("/signup", &[("csrf", &csrf), ("name", "张三"), ("phone", "13912345678"), ("password", "another long one")]).await;
    assert_eq!(taken.status, 422);
    assert!(taken.has("这个用户名已被使用"));
}

#[tokio::test]
async fn forms_without_the_browsers_token_are_refused() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    let page = browser.post("/signup", &[("name", "李四"), ("phone", "13912345678"), ("password", "correct horse battery")]).await;
    assert_eq!(page.status, 403);
    assert!(page.has("页面已过期"));
    // Another browser's token is not this one's.
    let mut other = Browser::new(&app);
    let theirs = other.get("/login").await.csrf();
    let page = browser
        .post("/signup", &[("csrf", &theirs), ("name", "李四"), ("phone", "13912345678"), ("password", "correct horse battery")])
        .await;
    assert_eq!(page.status, 403);
    assert!(app.state.usecases().store().user_by_name("李四").await.unwrap().is_none(), "nothing was created");

    browser.sign_up("李四").await;
    let page = browser.post("/logout", &[]).await;
    assert_eq!(page.status, 403, "signing out is a change too");
    let page = browser.post("/account/password", &[("current", "correct horse battery"), ("password", "a new long password")]).await;
    assert_eq!(page.status, 403);
}

#[tokio::test]
async fn staff_sign_in_to_their_roles_page_and_sign_out_for_good() {
    let app = spawn_app().await;
    staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    staff_account(&app, "auditor", "赵审", "auditor password 1");
    let mut reviewer = Browser::new(&app);
    let page = reviewer.sign_in("王芳", "reviewer password 1").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/review")));
    let mut auditor = Browser::new(&app);
    let page = auditor.sign_in("赵审", "auditor password 1").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/audit")));

    let mut stranger = Browser::new(&app);
    let wrong = stranger.sign_in("王芳", "not the password").await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.has("用户名或密码不正确"));
    let unknown = stranger.sign_in("无此人", "not the password").await;
    assert!(unknown.has("用户名或密码不正确"), "an unknown name reads like a wrong password");

    // Signing in again keeps the return path; only this site's paths are followed.
    let mut browser = Browser::new(&app);
    let csrf = browser.get("/login?next=/applications/x").await.csrf();
    let page =
        browser.post("/login", &[("csrf", &csrf), ("name", "王芳"), ("password", "reviewer password 1"), ("next", "//evil.example")]).await;
    assert_eq!(page.location.as_deref(), Some("/review"));

    let session = reviewer.cookies["ow_session"].clone();
    let csrf = reviewer.get("/account").await.csrf();
    let page = reviewer.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/")));
    // The old cookie, replayed, is signed out too.
    reviewer.cookies.insert("ow_session".into(), session);
    let page = reviewer.get("/account").await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/login?next=/account"));
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_slowed_down() {
    let app = spawn_app().await;
    staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    let mut browser = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(browser.sign_in("王芳", "guess").await.status, 422);
    }
    let page = browser.sign_in("王芳", "reviewer password 1").await;
    assert_eq!(page.status, 429, "even the right password waits once the name is throttled");
    assert!(page.has("登录失败次数过多"));
    app.clock.advance_ms(2_000);
    assert_eq!(browser.sign_in("王芳", "reviewer password 1").await.status, 303);
}

#[tokio::test]
async fn sessions_end_when_idle_too_long_and_a_password_change_ends_the_others() {
    let app = spawn_app().await;
    let mut phone = Browser::new(&app);
    phone.sign_up("周五").await;
    let mut laptop = Browser::new(&app);
    assert_eq!(laptop.sign_in("周五", "correct horse battery").await.status, 303);

    let csrf = phone.get("/account").await.csrf();
    let page = phone.post("/account/password", &[("csrf", &csrf), ("current", "wrong"), ("password", "a new long password")]).await;
    assert_eq!(page.status, 422);
    assert!(page.has("当前密码不正确"));
    let page = phone
        .post("/account/password", &[("csrf", &csrf), ("current", "correct horse battery"), ("password", "a new long password")])
        .await;
    assert_eq!(page.location.as_deref(), Some("/account?changed=1"));
    assert_eq!(phone.get("/my").await.status, 200, "the browser that changed it stays signed in");
    assert_eq!(laptop.get("/my").await.status, 303, "every other session ended");
    assert_eq!(laptop.sign_in("周五", "correct horse battery").await.status, 422, "the old password is gone");
    assert_eq!(laptop.sign_in("周五", "a new long password").await.status, 303);

    app.clock.advance_ms(29 * 60_000);
    assert_eq!(phone.get("/my").await.status, 200, "used within the idle limit");
    app.clock.advance_ms(31 * 60_000);
    let page = phone.get("/my").await;
    assert_eq!(page.status, 303, "idle past 30 minutes");
    assert!(page.location.unwrap().starts_with("/login?next=/my"));
}

#[tokio::test]
async fn a_session_ends_after_its_absolute_limit_however_busy() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.sign_up("吴六").await;
    // A request every 25 minutes keeps it from going idle; twelve hours after signing in it ends.
    for _ in 0..28 {
        app.clock.advance_ms(25 * 60_000);
        assert_eq!(browser.get("/my").await.status, 200);
    }
    app.clock.advance_ms(25 * 60_000);
    assert_eq!(browser.get("/my").await.status, 303, "past 12 hours");
}

#[tokio::test]
async fn every_form_that_changes_something_is_refused_without_the_token() {
    let app = spawn_app().await;
    let id = app.submit_fixture("licence-name-mismatch", "k").await;
    app.wait_for_decisions(&id, 1).await;
    staff_account(&app, "admin", "管理员", "admin password 1");
    let mut admin = Browser::new(&app);
    assert_eq!(admin.sign_in("管理员", "admin password 1").await.status, 303);
    let before = app.state.usecases().store().audit_entries().await.unwrap().len();
    let routes = [
        "/logout".to_string(),
        "/account/password".into(),
        "/apply/drainage-permit".into(),
        format!("/applications/{id}/edit"),
        format!("/applications/{id}/documents/1/withdraw"),
        format!("/applications/{id}/submit"),
        "/review/next".into(),
        format!("/review/{id}/claim"),
        format!("/review/{id}/release"),
        format!("/review/{id}/corrections"),
        format!("/review/{id}/preview"),
        format!("/review/{id}/decision"),
        "/audit/verify".into(),
        "/audit/replay".into(),
        format!("/applications/{id}/rating"),
        "/work-orders/1".into(),
    ];
    for route in &routes {
        let page =
            admin.post(route, &[("csrf", "0000"), ("action", "issue"), ("reason_code", "issue.verified"), ("application", &id)]).await;
        assert_eq!(page.status, 403, "{route}");
        assert!(page.has("页面已过期"), "{route}: refused for its token, not its role");
    }
    let after = app.state.usecases().store().audit_entries().await.unwrap().len();
    assert_eq!(before, after, "nothing happened");
    assert_eq!(app.get_application(&id).await["state"], "needs_review");
}

#[tokio::test]
async fn every_service_has_its_form_generated_from_its_rules() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.sign_up("郑七").await;
    let flexible = browser.get("/apply/flexible-employment").await;
    assert_eq!(flexible.status, 200);
    assert!(flexible.has("type=\"checkbox\"") && flexible.has("企业职工基本养老保险参保"), "a list of choices is checkboxes");
    assert!(flexible.has("type=\"date\""), "a date is a date input");
    let retirement = browser.get("/apply/retirement").await;
    assert!(retirement.has("弹性提前退休") && retirement.has("name=\"requested_date\""));
    let csrf = retirement.csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "郑七"),
        ("id_number", "320211196603150027"),
        ("sex", "female"),
        ("original_retirement_age", "55"),
        ("contribution_months", "300"),
        ("requested_date", "2026-11-01"),
        ("option", "normal"),
    ];
    let created = browser.post("/apply/retirement", &form).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let id = created.location.unwrap().trim_start_matches("/applications/").to_string();
    let stored = app.state.usecases().store().application(&onewindow::domain::application::ApplicationId::parse(&id).unwrap()).await;
    let stored: serde_json::Value = serde_json::from_str(&stored.unwrap().unwrap().form).unwrap();
    assert_eq!(stored["contribution_months"], 300.0);
    assert_eq!(stored["requested_date"], "2026-11-01");
    assert_eq!(browser.get("/apply/no-such-service").await.status, 404);
}

/// A mistyped address in a browser gets the site's page saying so (with the pages' headers); a
/// script, and anything under /api/, still gets the API's error body.
#[tokio::test]
async fn an_unknown_address_is_a_page_for_a_browser_and_the_error_body_for_a_script() {
    let app = spawn_app().await;
    let get = |path: &str, accept: Option<&str>| {
        let request = app.client.get(app.url(path));
        match accept {
            Some(accept) => request.header("Accept", accept.to_string()),
            None => request,
        }
        .send()
    };
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = get("/applicaitons/mine", Some(browser_accept)).await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors"));
    assert!(page.text().await.unwrap().contains("找不到这个页面"));
    for (path, accept) in [("/applicaitons/mine", None), ("/api/v1/nothing-here", Some(browser_accept))] {
        let response = get(path, accept).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error_type"], "not_found", "{path}");
    }
}
