//! The applicant's path through the pages: the one form, uploads, check your answers, submit,
//! the status until decided, the certificate; and what another account or a stale form gets.

use std::time::{Duration, Instant};

use super::browser::{Browser, Page};
use crate::helpers::{spawn_app, Fixture, TestApp};

/// The form of a fixture as a browser posts it.
fn posted(app: &TestApp, service: &str, form: &serde_json::Value) -> Vec<(String, String)> {
    let rules = app.state.usecases().rules().clone();
    onewindow::web::form::to_posted(rules.service(service).unwrap().form_schema(), form)
}

async fn apply(browser: &mut Browser, app: &TestApp, fixture: &Fixture) -> String {
    let page = browser.get("/apply/drainage-permit").await;
    assert_eq!(page.status, 200);
    let mut pairs = vec![("csrf".to_string(), page.csrf())];
    pairs.extend(posted(app, "drainage-permit", &fixture.form));
    let created = browser.post_pairs("/apply/drainage-permit", &pairs).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let location = created.location.unwrap();
    location.strip_prefix("/applications/").unwrap().to_string()
}

async fn wait_until_decided(browser: &mut Browser, id: &str) -> Page {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = browser.get(&format!("/applications/{id}/state")).await;
        assert_eq!(state.status, 200);
        if state.body != "submitted" {
            return browser.get(&format!("/applications/{id}")).await;
        }
        assert!(Instant::now() < deadline, "no decision in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_applicant_fills_the_form_uploads_checks_submits_and_downloads_the_certificate() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let mut browser = Browser::new(&app);
    browser.sign_up("无锡市某餐饮店").await;

    let form = browser.get("/apply/drainage-permit").await;
    assert!(form.has("for=\"applicant_name\"") && form.has("排水户名称"), "labels from the rule file");
    assert!(form.has("type=\"radio\"") && form.has("A级（污水处理厂有再生处理）"), "choices by their labels");
    assert!(form.find_before("排水户名称", "污水处理厂等级"), "fields in the rule file's order");
    let id = apply(&mut browser, &app, &fixture).await;

    let case = browser.get(&format!("/applications/{id}")).await;
    assert_eq!(case.status, 200);
    assert!(case.has("未提交") && case.has("营业执照") && case.has("未上传"), "the task list names every material");
    assert!(case.has("accept=\"image/*,application/pdf\"") && case.has("每个文件不超过"), "the upload says what it takes");
    let upload = browser.upload(&format!("/applications/{id}/documents"), Some(&case.csrf()), &fixture.files).await;
    assert_eq!(upload.status, 303, "{}", upload.body);
    let case = browser.get(&format!("/applications/{id}")).await;
    for (name, _) in &fixture.files {
        assert!(case.has(name), "{name} listed");
    }
    assert!(case.has("提交后识别"));

    let check = browser.get(&format!("/applications/{id}/check")).await;
    assert_eq!(check.status, 200);
    assert!(check.has(fixture.form["applicant_name"].as_str().unwrap()) && check.has("更改申请信息"));
    let key = check.hidden("idempotency_key").unwrap();
    let submit = [("csrf", check.csrf()), ("idempotency_key", key)];
    let pairs: Vec<(&str, &str)> = submit.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let submitted = browser.post(&format!("/applications/{id}/submit"), &pairs).await;
    assert_eq!(submitted.location, Some(format!("/applications/{id}?submitted=1")));
    let again = browser.post(&format!("/applications/{id}/submit"), &pairs).await;
    assert_eq!(again.status, 303, "the same page submitted twice is one submission");
    let confirmation = browser.get(&format!("/applications/{id}?submitted=1")).await;
    assert!(confirmation.has("申请已提交") && confirmation.has(&id) && confirmation.has("接下来会怎样"));

    let decided = wait_until_decided(&mut browser, &id).await;
    assert!(decided.has("已准予许可"), "{}", decided.body);
    assert!(decided.has("已提供") && decided.has("/verify/"), "the task list and the verification link");
    let application = app.state.usecases().store().application(&onewindow::domain::application::ApplicationId::parse(&id).unwrap()).await;
    assert_eq!(application.unwrap().unwrap().submissions, 1);
    let pdf = browser.get(&format!("/applications/{id}/certificate")).await;
    assert_eq!(pdf.status, 200);
    assert!(pdf.content_type.starts_with("application/pdf") && pdf.bytes.starts_with(b"%PDF"));
    let file = browser.get(&format!("/applications/{id}/documents/1")).await;
    assert_eq!(file.status, 200);
    assert!(file.bytes.starts_with(b"%PDF"), "a file opens in the browser's viewer");
    assert_eq!(file.header("x-content-type-options"), "nosniff");
    assert!(file.header("content-disposition").starts_with("inline; filename*=UTF-8''"));
    assert!(!file.header("content-security-policy").contains("sandbox"), "a sandboxed PDF would not open in the viewer");
    assert_eq!(decided.header("cache-control"), "no-store", "a page with personal data is not cached");
    assert!(decided.header("content-security-policy").contains("frame-ancestors 'self'"));
    let my = browser.get("/my").await;
    assert!(my.has(&id) && my.has("已办结：准予许可"));
}

#[tokio::test]
async fn a_form_with_problems_comes_back_with_each_named_and_nothing_created() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.sign_up("申请人甲").await;
    let csrf = browser.get("/apply/drainage-permit").await.csrf();
    let page = browser
        .post(
            "/apply/drainage-permit",
            &[("csrf", &csrf), ("applicant_name", "某店"), ("daily_volume_m3", "十吨"), ("outlets[0].kind", "foul")],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.has("class=\"error-summary\""));
    assert!(page.has("href=\"#daily_volume_m3\"") && page.has("排水量（立方米/日）须为数字"), "{}", page.body);
    assert!(page.has("href=\"#credit_code\"") && page.has("href=\"#plant_grade\""), "every missing field is linked:\n{}", page.body);
    assert!(page.has("value=\"某店\""), "what was typed is kept");
    let grown = browser.post("/apply/drainage-permit", &[("csrf", &csrf), ("outlets[0].kind", "foul"), ("add", "outlets")]).await;
    assert_eq!(grown.status, 200);
    assert!(grown.has("name=\"outlets[1].kind\""), "another outlet without JavaScript");
    let my = browser.get("/my").await;
    assert!(my.has("您还没有提交过申请"));
}

#[tokio::test]
async fn another_account_sees_nothing_and_a_stale_upload_stores_nothing() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let mut owner = Browser::new(&app);
    owner.sign_up("申请人乙").await;
    let id = apply(&mut owner, &app, &fixture).await;

    let mut stranger = Browser::new(&app);
    stranger.sign_up("申请人丙").await;
    for path in [
        format!("/applications/{id}"),
        format!("/applications/{id}/check"),
        format!("/applications/{id}/documents/1"),
        format!("/applications/{id}/state"),
    ] {
        let page = stranger.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.has(fixture.form["applicant_name"].as_str().unwrap()));
    }
    let csrf = stranger.get("/my").await.csrf();
    let page = stranger.upload(&format!("/applications/{id}/documents"), Some(&csrf), &fixture.files).await;
    assert_eq!(page.status, 404);

    let mut anonymous = Browser::new(&app);
    let page = anonymous.get(&format!("/applications/{id}")).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location, Some(format!("/login?next=/applications/{id}")));

    let page = owner.upload(&format!("/applications/{id}/documents"), None, &fixture.files).await;
    assert_eq!(page.status, 403, "an upload without the form's token");
    let page = owner.upload(&format!("/applications/{id}/documents"), Some("forged"), &fixture.files).await;
    assert_eq!(page.status, 403);
    let case = owner.get(&format!("/applications/{id}")).await;
    assert!(case.has("还没有上传文件"), "nothing was stored");
    let page = owner.upload(&format!("/applications/{id}/documents"), Some(&case.csrf()), &[("note.txt".into(), b"hello".to_vec())]).await;
    assert_eq!(page.status, 415);
    assert!(page.has("只能上传 PDF、JPG 或 PNG 文件") && page.has("href=\"#files\""), "the refusal is shown at the file input");

    super::browser::staff_account(&app, "reviewer", "审核员", "reviewer password 1");
    let mut reviewer = Browser::new(&app);
    reviewer.sign_in("审核员", "reviewer password 1").await;
    assert_eq!(reviewer.get("/apply/drainage-permit").await.status, 403, "staff do not apply");
    let page = reviewer.get(&format!("/applications/{id}")).await;
    assert_eq!(page.status, 200, "a reviewer reads every case");
    assert!(!page.has("enctype=\"multipart/form-data\""), "but gets no upload form");
}
