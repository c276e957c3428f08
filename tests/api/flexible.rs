//! 灵活就业"一件事": one form, one set of materials, one outcome per requested item, decided
//! independently. Most ID cards and licences here are text PDFs made with the project's own PDF
//! writer; the last tests use photographed cards (front and back) from `fixtures/id-card/`, read by OCR.

use std::sync::Arc;

use chrono::NaiveDate;
use onewindow::issuance::certificate::{render, CertificateData, CertificateFont};
use onewindow::pipeline::InputFile;
use onewindow::rules::RuleSet;
use serde_json::{json, Value};

use crate::helpers::{onewindow_exe, repo};

fn text_pdf(title: &str, rows: &[(&str, &str)]) -> Vec<u8> {
    let data = CertificateData {
        title: title.into(),
        number: String::new(),
        rows: rows.iter().map(|(l, v)| (l.to_string(), v.to_string())).collect(),
        authority: String::new(),
        issued_on: String::new(),
        verify_url: "https://example.invalid/".into(),
    };
    render(&CertificateFont::shipped().unwrap(), &data).unwrap()
}

fn id_card(name: &str, sex: &str, birth: &str, id: &str) -> InputFile {
    InputFile::new(
        "身份证.pdf",
        text_pdf(
            "中华人民共和国居民身份证",
            &[
                ("姓名", name),
                ("性别", sex),
                ("民族", "汉"),
                ("出生", birth),
                ("住址", "无锡市新吴区旺庄路156号"),
                ("公民身份号码", id),
                ("签发机关", "无锡市公安局新吴分局"),
                ("有效期限", "2015.06.01-2035.06.01"),
            ],
        ),
    )
}

fn licence(name: &str, code: &str) -> InputFile {
    InputFile::new(
        "营业执照.pdf",
        text_pdf(
            "营业执照",
            &[
                ("统一社会信用代码", code),
                ("名称", name),
                ("类型", "个体工商户"),
                ("经营者", "陈晓雨"),
                ("经营范围", "饮品制售；食品销售"),
                ("登记机关", "无锡市新吴区市场监督管理局"),
            ],
        ),
    )
}

fn decide(form: &Value, files: &[InputFile]) -> Value {
    let rules = RuleSet::load_dir(&repo().join("rules")).unwrap();
    let decider =
        onewindow::app::pipeline(Arc::new(rules), &onewindow::config::LimitsConfig::default(), onewindow_exe(), Default::default());
    let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    serde_json::to_value(decider.run("flexible-employment", form, files, today).unwrap()).unwrap()
}

fn milk_tea_shop() -> Value {
    json!({
        "name": "陈晓雨", "id_number": "320214199506011239", "contact_phone": "13812345678", "address": "无锡市新吴区旺庄路156号",
        "employment_type": "shop", "occupation": "开奶茶店", "start_date": "2026-11-10", "individual_business": true,
        "credit_code": "92320214MA1NB3C47B", "insured_by_employer": false,
        "items": ["employment_registration", "pension", "medical", "tax_confirmation"], "contribution_base": 6000
    })
}

fn outcomes(decision: &Value) -> Vec<(String, String)> {
    decision["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["item"].as_str().unwrap().into(), i["outcome"].as_str().unwrap().into()))
        .collect()
}

#[test]
fn a_milk_tea_shop_gets_all_four_items_in_one_decision() {
    let files = [id_card("陈晓雨", "男", "1995年6月1日", "320214199506011239"), licence("无锡市新吴区晓雨饮品店", "92320214MA1NB3C47B")];
    let decision = decide(&milk_tea_shop(), &files);
    assert_eq!(decision["outcome"], "issued", "{}", decision["findings"]);
    assert_eq!(decision["documents"][0]["kind"], "id_card");
    assert_eq!(decision["documents"][1]["kind"], "business_licence");
    let items = outcomes(&decision);
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|(_, o)| o == "issued"), "{items:?}");
}

#[test]
fn a_failed_tax_confirmation_does_not_hold_up_the_insurance_items() {
    let mut form = milk_tea_shop();
    form["credit_code"] = json!("91320214MA20K7L53Q"); // an enterprise's code, not an individual business's
    let files = [id_card("陈晓雨", "男", "1995年6月1日", "320214199506011239"), licence("无锡市新吴区晓雨饮品店", "91320214MA20K7L53Q")];
    let decision = decide(&form, &files);
    let items: std::collections::BTreeMap<String, String> = outcomes(&decision).into_iter().collect();
    assert_eq!(items["tax_confirmation"], "needs_review");
    assert_eq!(items["pension"], "issued");
    assert_eq!(items["medical"], "issued");
    assert_eq!(decision["outcome"], "needs_review", "issued only when every requested item is");
}

#[test]
fn a_ride_hailing_driver_insured_by_an_employer_is_registered_but_not_enrolled() {
    let form = json!({
        "name": "周强", "id_number": "320214198803121245", "contact_phone": "13912345678", "address": "无锡市新吴区长江路21号",
        "employment_type": "service", "occupation": "网约车司机", "start_date": "2026-11-01", "individual_business": false,
        "insured_by_employer": true, "items": ["employment_registration", "pension"], "contribution_base": 6000
    });
    let decision = decide(&form, &[id_card("周强", "女", "1988年3月12日", "320214198803121245")]);
    let items: std::collections::BTreeMap<String, String> = outcomes(&decision).into_iter().collect();
    assert_eq!(items.len(), 2, "only what was asked for");
    assert_eq!(items["employment_registration"], "issued", "{}", decision["findings"]);
    assert_eq!(items["pension"], "needs_review");
    assert!(!decision["missing_materials"].as_array().unwrap().iter().any(|m| m == "business_licence"), "no business, no licence");
}

#[test]
fn one_notice_lists_everything_missing_across_items() {
    let decision = decide(&milk_tea_shop(), &[]);
    assert_eq!(decision["outcome"], "needs_materials");
    assert_eq!(decision["missing_materials"], json!(["business_licence", "id_card"]));
    assert!(outcomes(&decision).iter().all(|(_, o)| o == "needs_materials"));
}

#[test]
fn the_sex_and_birth_date_on_the_card_must_agree_with_the_number() {
    let files = [id_card("陈晓雨", "女", "1995年6月1日", "320214199506011239"), licence("无锡市新吴区晓雨饮品店", "92320214MA1NB3C47B")];
    let decision = decide(&milk_tea_shop(), &files);
    assert_eq!(decision["outcome"], "needs_review");
    assert!(crate::helpers::finding_rules(&decision).contains(&"card.sex_and_birth_match_number".to_string()));
    let files = [id_card("陈晓雨", "男", "1995年7月1日", "320214199506011239"), licence("无锡市新吴区晓雨饮品店", "92320214MA1NB3C47B")];
    assert!(crate::helpers::finding_rules(&decide(&milk_tea_shop(), &files)).contains(&"card.sex_and_birth_match_number".to_string()));
}

/// Through the API: the bundle is decided by the worker and each issued item gets its own record.
#[tokio::test]
async fn each_issued_item_gets_its_own_record() {
    let app = crate::helpers::spawn_app().await; // today 2026-10-20
    let mut form = milk_tea_shop();
    form["start_date"] = json!("2026-10-10");
    let response = app.create_application("flexible-employment", &form).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let files: Vec<(String, Vec<u8>)> =
        [id_card("陈晓雨", "男", "1995年6月1日", "320214199506011239"), licence("无锡市新吴区晓雨饮品店", "92320214MA1NB3C47B")]
            .into_iter()
            .map(|f| (f.name.clone(), f.bytes.to_vec()))
            .collect();
    assert_eq!(app.upload(&id, &files).await.status(), 201);
    app.submit(&id, "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "issued", "{}", application["decision"]["findings"]);
    let records: Vec<(String, String)> = application["item_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["item"].as_str().unwrap().to_string(), r["number"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(records.contains(&("employment_registration".into(), "新吴就登〔2026〕00001号".into())), "{records:?}");
    assert!(records.contains(&("pension".into(), "新吴养参〔2026〕00001号".into())), "{records:?}");
    assert!(application["permit"].is_null(), "a bundle issues records, not a permit");
}

#[tokio::test]
async fn a_reviewer_who_issues_a_bundle_case_gives_each_waiting_item_its_record_and_keeps_the_machines() {
    use onewindow::domain::user::Role;
    let app = crate::helpers::spawn_app().await; // today 2026-10-20
                                                 // Insured through an employer: registration is issued at once, the pension waits for a person.
    let form = json!({
        "name": "周强", "id_number": "320214198803120357", "contact_phone": "13912345678", "address": "无锡市新吴区旺庄路156号",
        "employment_type": "service", "occupation": "网约车司机", "start_date": "2026-10-01", "individual_business": false,
        "insured_by_employer": true, "items": ["employment_registration", "pension"], "contribution_base": 6000
    });
    let response = app.create_application("flexible-employment", &form).await;
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let card = id_card("周强", "男", "1988年3月12日", "320214198803120357");
    assert_eq!(app.upload(&id, &[(card.name.clone(), card.bytes.to_vec())]).await.status(), 201);
    app.submit(&id, "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "needs_review", "{}", application["decision"]["findings"]);
    let records = |application: &Value| -> Vec<(String, String)> {
        application["item_records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["item"].as_str().unwrap().to_string(), r["number"].as_str().unwrap().to_string()))
            .collect()
    };
    let before = records(&application);
    assert_eq!(before.len(), 1, "only the registration was issued by the machine: {before:?}");
    assert_eq!(before[0].0, "employment_registration");

    let reviewer = crate::helpers::add_user(&app.state, Role::Reviewer).await;
    assert_eq!(app.post_as(&reviewer, &format!("/api/v1/review/{id}/claim"), json!({})).await.status(), 200);
    // A rule failed on this case: issuing over it is an override, with its reasons.
    let issued = app
        .post_as(
            &reviewer,
            &format!("/api/v1/review/{id}/decision"),
            json!({"action": "issue", "reason_code": "issue.override", "text": "经核对原件，申请人符合条件"}),
        )
        .await;
    assert_eq!(issued.status(), 200);
    let application = app.get_application(&id).await;
    assert_eq!(application["state"], "issued");
    let after = records(&application);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.contains(&before[0]), "the machine's record keeps its number: {after:?}");
    assert!(after.iter().any(|(item, number)| item == "pension" && number.contains("养参")), "{after:?}");
}

/// The decider with the OCR models, for ID cards photographed front and back.
fn decide_with_ocr(form: &Value, files: &[InputFile]) -> Value {
    let rules = RuleSet::load_dir(&repo().join("rules")).unwrap();
    let limits = onewindow::config::LimitsConfig::default();
    let decider = onewindow::app::pipeline(Arc::new(rules), &limits, onewindow_exe(), crate::helpers::shipped_inference());
    let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    serde_json::to_value(decider.run("flexible-employment", form, files, today).unwrap()).unwrap()
}

fn card_photos(case: &str) -> [InputFile; 2] {
    let dir = repo().join("fixtures/id-card").join(case);
    ["front.jpg", "back.jpg"].map(|side| InputFile::new(format!("身份证-{side}"), std::fs::read(dir.join(side)).unwrap()))
}

#[test]
fn an_id_card_photographed_front_and_back_is_read_and_the_milk_tea_shop_gets_all_four_items() {
    let [front, back] = card_photos("milk-tea-owner");
    let files = [front, back, licence("无锡市新吴区晓雨饮品店", "92320214MA1NB3C47B")];
    let decision = decide_with_ocr(&milk_tea_shop(), &files);
    let kinds: Vec<&Value> = decision["documents"].as_array().unwrap().iter().map(|d| &d["kind"]).collect();
    assert_eq!(kinds, ["id_card", "id_card", "business_licence"], "both sides are the ID card");
    let fields = &decision["fields"];
    assert_eq!(fields["card.name"]["value"], "陈晓雨");
    assert_eq!(fields["card.id_number"]["value"], "320214199506011239");
    assert_eq!(fields["card.birth"]["value"], "1995-06-01");
    assert_eq!(fields["card.valid_until"]["value"], "2035-06-01", "the back side's 有效期限");
    assert_eq!(fields["card.valid_until"]["document"], "身份证-back.jpg");
    assert_eq!(decision["outcome"], "issued", "{}", decision["findings"]);
    assert!(outcomes(&decision).iter().all(|(_, o)| o == "issued"));
}

#[test]
fn an_expired_card_on_a_photo_is_a_finding_and_a_person_decides() {
    let form = json!({
        "name": "李建华", "id_number": "320214199009090538", "contact_phone": "13912345678", "address": "无锡市新吴区新华路5号",
        "employment_type": "service", "occupation": "网约车司机", "start_date": "2026-11-10", "individual_business": false,
        "insured_by_employer": false, "items": ["employment_registration", "pension"], "contribution_base": 6000
    });
    let decision = decide_with_ocr(&form, &card_photos("expired-card"));
    assert_eq!(decision["fields"]["card.valid_until"]["value"], "2016-09-09");
    let finding = decision["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "card.not_expired").expect("expired card found");
    assert_eq!(finding["result"], "fail");
    assert_eq!(decision["outcome"], "needs_review", "the machine never refuses");
    // Only the front: the validity cannot be checked, so a person looks.
    let [front, _] = card_photos("expired-card");
    let decision = decide_with_ocr(&form, &[front]);
    let finding = decision["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "card.not_expired").expect("validity unread");
    assert_eq!(finding["result"], "unknown");
}
