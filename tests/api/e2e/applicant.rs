//! An applicant on a phone-sized window: signs up, fills the one form, uploads a fixture package
//! through the file input, checks the answers, submits, and gets the certificate.

use std::time::Duration;

use fantoccini::Locator;

use crate::helpers::{spawn_app, Fixture};

#[tokio::test]
async fn an_applicant_on_a_phone_signs_up_applies_uploads_and_downloads_the_certificate() {
    let app = spawn_app().await;
    let Some(browser) = super::browser(&app.address, 390, 844).await else { return };
    let fixture = Fixture::load("clean-catering-stsong");

    browser.open("/").await;
    browser.look("applicant-01-services").await;
    browser.click("a[href='/signup']").await;
    browser.fill("#name", "无锡市某餐饮店").await;
    browser.fill("#phone", "13912345678").await;
    browser.fill("#password", "correct horse battery").await;
    browser.look("applicant-02-signup").await;
    browser.click("form[action='/signup'] button[type=submit]").await;
    browser.wait_for_path("/my").await;

    browser.open("/apply/drainage-permit").await;
    // Submitting empty first shows the error summary, focused, with a link per field.
    browser.click("form[action='/apply/drainage-permit'] > button.button").await;
    browser.wait_for(".error-summary").await;
    browser.look("applicant-03-form-errors").await;
    let active = browser.client.execute("return document.activeElement.className", vec![]).await.unwrap();
    assert_eq!(active.as_str(), Some("error-summary"), "the error summary takes the focus");

    let rules = app.state.usecases().rules().clone();
    let pairs = onewindow::web::form::to_posted(rules.service("drainage-permit").unwrap().form_schema(), &fixture.form);
    let outlets = pairs.iter().filter(|(n, _)| n.starts_with("outlets[") && n.ends_with("].kind")).count();
    for n in 1..outlets {
        browser.click("button[name=add][value=outlets]").await;
        browser.wait_for(&format!("input[name='outlets[{n}].kind']")).await;
    }
    for (name, value) in &pairs {
        let radio = format!("input[name='{name}'][value='{value}']");
        match browser.client.find(Locator::Css(&radio)).await {
            Ok(choice) => choice.click().await.unwrap_or_else(|e| panic!("{radio}: {e}")),
            Err(_) => browser.fill(&format!("[name='{name}']"), value).await,
        }
    }
    browser.look("applicant-04-form-filled").await;
    browser.click("form[action='/apply/drainage-permit'] > button.button").await;
    browser.wait_for_path("/applications/").await;
    assert!(browser.text().await.contains("未上传"));
    browser.look("applicant-05-task-list").await;

    let paths: Vec<String> = fixture.files.iter().map(|(name, _)| fixture.dir.join(name).display().to_string()).collect();
    browser.client.find(Locator::Css("#files")).await.unwrap().send_keys(&paths.join("\n")).await.unwrap();
    browser.click("form[data-upload] button[type=submit]").await;
    browser.wait_for_text(&fixture.files[0].0, Duration::from_secs(20)).await;
    browser.look("applicant-06-uploaded").await;

    browser.click("a[href$='/check']").await;
    browser.wait_for_path("/applications/").await;
    browser.wait_for("form[action$='/submit']").await;
    assert!(browser.text().await.contains(fixture.form["applicant_name"].as_str().unwrap()));
    browser.look("applicant-07-check-answers").await;
    browser.click("form[action$='/submit'] button").await;
    browser.wait_for(".panel").await;
    assert!(browser.text().await.contains("申请已提交"));
    browser.look("applicant-08-confirmation").await;
    browser.wait_for_text("已准予许可", Duration::from_secs(120)).await;
    browser.look("applicant-09-issued").await;

    let link = browser.client.find(Locator::Css("a[href$='/certificate']")).await.unwrap().attr("href").await.unwrap().unwrap();
    let script = "const done = arguments[arguments.length - 1]; \
                  fetch(arguments[0]).then(r => done(r.headers.get('content-type'))).catch(e => done(String(e)));";
    let fetched = browser.client.execute_async(script, vec![serde_json::json!(link)]).await.unwrap();
    assert_eq!(fetched.as_str(), Some("application/pdf"), "the certificate downloads");
}
