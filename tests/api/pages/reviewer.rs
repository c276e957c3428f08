//! The reviewer's path through the pages: the queue, claiming the next case, a case beside its
//! documents, a correction, the written decision previewed before it is sent; and what another
//! reviewer, an auditor and an applicant get.

use super::browser::{staff_account, Browser};
use crate::helpers::{spawn_app, Fixture};

#[tokio::test]
async fn a_reviewer_claims_a_flagged_case_corrects_a_reading_and_issues() {
    let app = spawn_app().await;
    let fixture = Fixture::load("licence-name-mismatch");
    let id = app.submit_fixture("licence-name-mismatch", "k").await;
    assert_eq!(app.wait_for_decisions(&id, 1).await["state"], "needs_review");
    staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    staff_account(&app, "reviewer", "李明", "reviewer password 2");
    staff_account(&app, "auditor", "赵审", "auditor password 1");
    let mut wang = Browser::new(&app);
    wang.sign_in("王芳", "reviewer password 1").await;
    let queue = wang.get("/review").await;
    assert_eq!(queue.status, 200);
    assert!(queue.has(&format!("href=\"/review/{id}\"")) && queue.has("未领取") && queue.has("按期"), "{}", queue.body);
    let claimed = wang.post("/review/next", &[("csrf", &queue.csrf())]).await;
    assert_eq!(claimed.location, Some(format!("/review/{id}")));

    let case = wang.get(&format!("/review/{id}")).await;
    assert_eq!(case.status, 200);
    assert!(case.has("放回队列") && case.has(&format!("action=\"/review/{id}/preview\"")), "the holder's controls");
    assert!(case.has("<iframe src=\"/applications/") && case.has("<td>licence.name</td>"), "each document beside its fields");
    assert!(case.has("licence.name_matches") && case.has("依据："), "findings with their basis");

    let mut li = Browser::new(&app);
    li.sign_in("李明", "reviewer password 2").await;
    let theirs = li.get(&format!("/review/{id}")).await;
    assert!(theirs.has("由 王芳 办理中"));
    assert!(!theirs.has("/preview\"") && !theirs.has("领取这件案件") && !theirs.has("/corrections\""), "no controls on another's case");
    let refused = li
        .post(&format!("/review/{id}/preview"), &[("csrf", &theirs.csrf()), ("action", "issue"), ("reason_code", "issue.verified")])
        .await;
    assert_eq!(refused.status, 422, "a forged decision by another reviewer is refused");

    let csrf = case.csrf();
    let no_reason = wang
        .post(
            &format!("/review/{id}/preview"),
            &[("csrf", &csrf), ("action", "refuse"), ("reason_code", "refuse.water_quality"), ("text", "")],
        )
        .await;
    assert!(no_reason.status == 422 && no_reason.has("class=\"error-summary\""), "{}", no_reason.body);

    let name = fixture.form["applicant_name"].as_str().unwrap();
    let corrected = wang
        .post(
            &format!("/review/{id}/corrections"),
            &[("csrf", &csrf), ("field", "licence.name"), ("value", name), ("reason", "对照执照原件核对")],
        )
        .await;
    assert_eq!(corrected.status, 303, "{}", corrected.body);
    let case = wang.get(&format!("/review/{id}")).await;
    assert!(case.has("原识别："), "the machine's reading stays beside the correction");
    let case_id = onewindow::domain::application::ApplicationId::parse(&id).unwrap();
    let corrections = app.state.usecases().store().corrections(&case_id).await.unwrap();
    let after: serde_json::Value = serde_json::from_str(&corrections[0].decision_after).unwrap();
    assert!(
        after["findings"].as_array().unwrap().iter().all(|f| f["rule"] != "licence.name_matches"),
        "the rule passes after the correction"
    );
    assert!(!case.has("规则 licence.name_matches"), "and the page shows the decision that stands");

    let preview = wang
        .post(
            &format!("/review/{id}/preview"),
            &[("csrf", &csrf), ("action", "issue"), ("reason_code", "issue.reading_corrected"), ("text", "")],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(preview.has("准予行政许可") && preview.has("确认准予许可"), "the notice is shown before it is sent");
    let application = app.get_application(&id).await;
    assert_eq!(application["state"], "needs_review", "a preview decides nothing");
    let pairs: Vec<(String, String)> = vec![
        ("csrf".into(), preview.csrf()),
        ("action".into(), preview.hidden("action").unwrap()),
        ("reason_code".into(), preview.hidden("reason_code").unwrap()),
        ("text".into(), String::new()),
    ];
    let forged: Vec<(String, String)> =
        pairs.iter().filter(|(n, _)| n != "csrf").cloned().chain([("csrf".to_string(), theirs.csrf())]).collect();
    let by_other = li
        .post_pairs(&format!("/review/{id}/decision"), &[forged, vec![("previewed".into(), preview.hidden("previewed").unwrap())]].concat())
        .await;
    assert_eq!(by_other.status, 422, "another reviewer cannot send the holder's decision");
    let unpreviewed = wang.post_pairs(&format!("/review/{id}/decision"), &pairs).await;
    assert!(unpreviewed.status == 422 && unpreviewed.has("请先预览决定书"), "a decision is sent only as previewed");
    let mut stale = pairs.clone();
    stale.push(("previewed".into(), "0".repeat(64)));
    let changed = wang.post_pairs(&format!("/review/{id}/decision"), &stale).await;
    assert!(changed.status == 422 && changed.has("请重新预览"), "{}", changed.body);
    let mut pairs = pairs;
    pairs.push(("previewed".into(), preview.hidden("previewed").unwrap()));
    let decided = wang.post_pairs(&format!("/review/{id}/decision"), &pairs).await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    assert_eq!(app.get_application(&id).await["state"], "issued");

    let mut auditor = Browser::new(&app);
    auditor.sign_in("赵审", "auditor password 1").await;
    let read_only = auditor.get(&format!("/review/{id}")).await;
    assert_eq!(read_only.status, 200);
    assert!(!read_only.has("/preview\"") && !read_only.has("/claim\""));
    let mut applicant = Browser::new(&app);
    applicant.sign_up("申请人丁").await;
    assert_eq!(applicant.get("/review").await.status, 404, "the queue is for staff");
    assert_eq!(applicant.get(&format!("/review/{id}")).await.status, 404);
}
