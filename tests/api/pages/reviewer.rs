//! The reviewer's path through the pages: the queue, claiming the next case, a case beside its
//! documents, a correction, the written decision previewed before it is sent; and what another
//! reviewer, an auditor and an applicant get.

use super::browser::{staff_account, Browser};
use crate::helpers::{load_package, repo, spawn_app, spawn_app_with, AppOptions, Fixture};

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
    assert!(
        case.has("<iframe src=\"/applications/") && case.has("<td>市场主体名称<br><span class=\"hint\">licence.name</span></td>"),
        "each document beside its fields"
    );
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

/// A photographed licence: the case page numbers each field read from the photo, and the drawing
/// laid over it boxes each numbered line where it stands on the image; only staff get it.
#[tokio::test]
async fn a_photographed_licence_has_the_lines_its_fields_came_from_boxed_on_the_image() {
    let app = spawn_app_with(AppOptions::with_shipped_models()).await;
    let (form, _, files, _) = load_package(&repo().join("fixtures/photo/licence-name-mismatch"));
    let id = app.create_ok(&form).await;
    let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.bytes.to_vec())).collect();
    assert_eq!(app.upload(&id, &files).await.status(), 201);
    assert_eq!(app.submit(&id, "k").await.status(), 202);
    let decided = app.wait_for_decisions(&id, 1).await;
    assert_eq!(decided["state"], "needs_review", "{decided}");
    let from_photo = decided["decision"]["fields"]
        .as_object()
        .unwrap()
        .values()
        .filter(|f| {
            f["source"] == "document" && f["document"] == "营业执照.jpg" && f["line"].as_str().is_some_and(|l| !l.trim().is_empty())
        })
        .count();
    assert!(from_photo >= 3, "{decided}");

    staff_account(&app, "reviewer", "王芳", "reviewer password 1");
    let mut wang = Browser::new(&app);
    wang.sign_in("王芳", "reviewer password 1").await;
    let case = wang.get(&format!("/review/{id}")).await;
    let start = case.body.find("/boxes.svg").expect("the photo has its drawing laid over it");
    let src_start = case.body[..start].rfind("src=\"").unwrap() + 5;
    let drawing_path = case.body[src_start..start + "/boxes.svg".len()].to_string();
    let marks = case.body.matches("<span class=\"mark\">").count();
    assert_eq!(marks, from_photo, "every field read from the photo is numbered");

    let drawing = wang.get(&drawing_path).await;
    assert_eq!(drawing.status, 200);
    assert!(drawing.header("content-type").starts_with("image/svg+xml"));
    assert!(drawing.header("content-security-policy").contains("sandbox"));
    let numbers: Vec<usize> = drawing.body.split("</text>").filter_map(|t| t.rsplit('>').next()?.parse().ok()).collect();
    assert_eq!(numbers, (1..=marks).collect::<Vec<_>>(), "each numbered line is found again and drawn: {}", drawing.body);
    let view_box: Vec<f32> =
        drawing.body.split("viewBox=\"").nth(1).unwrap().split('"').next().unwrap().split(' ').map(|v| v.parse().unwrap()).collect();
    for points in drawing.body.split("points=\"").skip(1).map(|p| p.split('"').next().unwrap()) {
        for point in points.split(' ') {
            let (x, y) = point.split_once(',').unwrap();
            let (x, y): (f32, f32) = (x.parse().unwrap(), y.parse().unwrap());
            assert!((-2.0..=view_box[2] + 2.0).contains(&x) && (-2.0..=view_box[3] + 2.0).contains(&y), "{point} outside the image");
        }
    }

    let mut stranger = Browser::new(&app);
    stranger.sign_up("路人甲").await;
    assert_eq!(stranger.get(&drawing_path).await.status, 404, "an applicant gets no drawing of another's document");
}
