//! The decision stages on hand-made cases: no reading, no models, no clock. Each case is a form,
//! the documents as the understanding stage would hand them over, and the category reading.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::*;
use crate::domain::decision::{FieldSource, Outcome, RuleResult};
use crate::understanding::fields::ExtractedField;
use crate::understanding::{Classification, InferredCategory, Understood};

fn rules() -> RuleSet {
    RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
}

/// A field read with `confidence`, on page 1.
fn field(path: &str, value: Value, confidence: f64) -> ExtractedField {
    ExtractedField { path: path.into(), line: format!("{path} {value}"), value, confidence, page: 1, note: None }
}

/// A readable document of `kind` with `fields`.
fn document(file: &str, kind: &str, fields: Vec<ExtractedField>) -> UnderstoodDocument {
    UnderstoodDocument {
        file: file.into(),
        sha256: "0".repeat(64),
        unreadable: None,
        read_by_ocr: false,
        repaired: false,
        understood: Some(Understood { classification: Classification { kind: kind.into(), confidence: 0.95 }, fields, unread: vec![] }),
    }
}

fn catering_form() -> Value {
    json!({
        "applicant_name": "无锡市新吴区张记餐饮店",
        "credit_code": "92320214MA1NB3C47B",
        "legal_representative": "张建国",
        "contact_phone": "13861712345",
        "address": "无锡市新吴区长江路21号",
        "discharge_category": "catering",
        "key_discharger": false,
        "plant_grade": "B",
        "daily_volume_m3": 6.0,
        "outlets": [{"id": "W1", "kind": "foul", "position": "场地南侧", "diameter_mm": 300}],
        "pledges": {"concealed_works": false, "water_quality": false}
    })
}

fn licence() -> UnderstoodDocument {
    document(
        "营业执照.pdf",
        "business_licence",
        vec![
            field("name", json!("无锡市新吴区张记餐饮店"), 0.97),
            field("credit_code", json!("92320214MA1NB3C47B"), 0.97),
            field("legal_representative", json!("张建国"), 0.97),
            field("business_scope", json!("餐饮服务"), 0.97),
        ],
    )
}

/// A catering report with every required item, `cod` at `cod` read with `confidence`.
fn report(cod: f64, confidence: f64) -> UnderstoodDocument {
    let mut fields = vec![
        field("client", json!("无锡市新吴区张记餐饮店"), 0.97),
        field("sampling_date", json!("2026-10-08"), 0.97),
        field("pollutants.cod", json!(cod), confidence),
    ];
    for (item, value) in [("ph", 7.2), ("ss", 120.0), ("nh3n", 20.0), ("tp", 3.0), ("las", 5.0), ("oil", 30.0)] {
        fields.push(field(&format!("pollutants.{item}"), json!(value), 0.97));
    }
    document("水质检测报告.pdf", "water_quality_report", fields)
}

fn others() -> Vec<UnderstoodDocument> {
    ["drainage_plan", "pretreatment_docs", "concealed_works_report"]
        .iter()
        .map(|kind| document(&format!("{kind}.pdf"), kind, vec![]))
        .collect()
}

/// Runs the three stages as the pipeline does, with `inferred` as the category reading.
fn decide_case(
    rules: &RuleSet,
    form: &Value,
    documents: &[UnderstoodDocument],
    inferred: Option<InferredCategory>,
) -> crate::domain::decision::Decision {
    decide_corrected(rules, form, documents, inferred, &BTreeMap::new())
}

fn decide_corrected(
    rules: &RuleSet,
    form: &Value,
    documents: &[UnderstoodDocument],
    inferred: Option<InferredCategory>,
    corrections: &BTreeMap<String, Value>,
) -> crate::domain::decision::Decision {
    let service = rules.service("drainage-permit").unwrap();
    let case = Case { rules, service, form, documents, corrections, submitted_on: NaiveDate::from_ymd_opt(2026, 10, 20).unwrap() };
    let collected = collect(&case);
    let assessment = assess(&case, collected, inferred);
    decide(&case, assessment, BTreeMap::new())
}

fn catering(confidence: f64) -> Option<InferredCategory> {
    Some(InferredCategory { category: "catering".into(), confidence, cues: vec!["餐饮".into()] })
}

fn with(mut documents: Vec<UnderstoodDocument>, more: Vec<UnderstoodDocument>) -> Vec<UnderstoodDocument> {
    documents.extend(more);
    documents
}

fn rule<'a>(decision: &'a crate::domain::decision::Decision, id: &str) -> Option<&'a crate::domain::decision::Finding> {
    decision.findings.iter().find(|f| f.rule == id)
}

#[test]
fn a_clean_case_is_issued_with_every_field_on_record() {
    let rules = rules();
    let decision = decide_case(&rules, &catering_form(), &with(vec![licence(), report(236.0, 0.97)], others()), catering(0.9));
    assert_eq!(decision.outcome, Outcome::Issued, "{:#?}", decision.findings);
    assert_eq!(decision.fields["report.pollutants.cod"].value, json!(236.0));
    assert_eq!(decision.fields["report.pollutants.cod"].document.as_deref(), Some("水质检测报告.pdf"));
    assert_eq!(decision.fields["applicant_name"].source, FieldSource::Form);
    assert_eq!(decision.documents.len(), 5);
}

#[test]
fn a_limit_exceeded_is_a_finding_but_on_a_doubtful_reading_a_question_for_a_person() {
    let rules = rules();
    // Grade B allows COD 500.
    let sure = decide_case(&rules, &catering_form(), &with(vec![licence(), report(600.0, 0.97)], others()), catering(0.9));
    assert_eq!(sure.outcome, Outcome::NeedsReview);
    assert_eq!(rule(&sure, "water.cod_limit").unwrap().result, RuleResult::Fail);

    let doubtful = decide_case(&rules, &catering_form(), &with(vec![licence(), report(600.0, 0.5)], others()), catering(0.9));
    assert_eq!(doubtful.outcome, Outcome::NeedsReview);
    let cod = rule(&doubtful, "water.cod_limit").unwrap();
    assert_eq!(cod.result, RuleResult::Unknown);
    assert!(cod.message.ends_with("（所依据的识别结果置信度不足，需人工核对）"), "{}", cod.message);
    let weak = rule(&doubtful, "fields.low_confidence").unwrap();
    assert_eq!(weak.evidence[0].field, "report.pollutants.cod");
}

#[test]
fn a_required_item_missing_fails_from_a_text_layer_and_is_a_question_on_a_scan() {
    let rules = rules();
    let mut without_las = report(236.0, 0.97);
    without_las.understood.as_mut().unwrap().fields.retain(|f| f.path != "pollutants.las");
    let text = decide_case(&rules, &catering_form(), &with(vec![licence(), without_las.clone()], others()), catering(0.9));
    assert_eq!(rule(&text, "water.required_items").unwrap().result, RuleResult::Fail);

    without_las.read_by_ocr = true;
    let scan = decide_case(&rules, &catering_form(), &with(vec![licence(), without_las], others()), catering(0.9));
    let finding = rule(&scan, "water.required_items").unwrap();
    assert_eq!(finding.result, RuleResult::Unknown);
    assert!(finding.message.ends_with("（该材料经图像识别，未识别到的内容需人工核对）"), "{}", finding.message);
}

#[test]
fn an_unreadable_file_goes_back_to_the_applicant_with_its_reason() {
    let rules = rules();
    let mut unreadable = report(236.0, 0.97);
    unreadable.unreadable = Some("文件已加密".into());
    unreadable.understood = None;
    let decision = decide_case(&rules, &catering_form(), &with(vec![licence(), unreadable], others()), catering(0.9));
    assert_eq!(decision.outcome, Outcome::NeedsMaterials);
    assert!(rule(&decision, "documents.unreadable").unwrap().message.contains("文件已加密"));
    assert!(decision.missing_materials.contains(&"water_quality_report".to_string()));
    assert!(!decision.documents[1].readable);
}

#[test]
fn the_category_left_out_of_the_form_is_worked_out_and_decides_only_when_sure() {
    let rules = rules();
    let mut form = catering_form();
    form.as_object_mut().unwrap().remove("discharge_category");
    let documents = with(vec![licence(), report(236.0, 0.97)], others());

    let sure = decide_case(&rules, &form, &documents, catering(0.9));
    assert_eq!(sure.outcome, Outcome::Issued, "{:#?}", sure.findings);
    let field = &sure.fields["discharge_category"];
    assert_eq!((field.source, &field.value), (FieldSource::Derived, &json!("catering")));
    assert_eq!(field.document.as_deref(), Some("营业执照.pdf"));

    let unsure = decide_case(&rules, &form, &documents, catering(0.7));
    assert_eq!(unsure.outcome, Outcome::NeedsReview);
    assert_eq!(rule(&unsure, "fields.discharge_category").unwrap().result, RuleResult::Unknown);

    let nothing = decide_case(&rules, &form, &documents, None);
    assert_eq!(nothing.outcome, Outcome::NeedsReview);
    assert!(rule(&nothing, "fields.discharge_category").unwrap().message.contains("无法从营业执照经营范围判定"));
}

#[test]
fn a_form_category_the_licence_contradicts_goes_to_a_person() {
    let rules = rules();
    let mut form = catering_form();
    // A restaurant declaring "construction" would escape the oil and LAS tests.
    form["discharge_category"] = json!("construction");
    let decision = decide_case(&rules, &form, &with(vec![licence(), report(236.0, 0.97)], others()), catering(0.9));
    assert_eq!(decision.outcome, Outcome::NeedsReview);
    let finding = rule(&decision, "fields.discharge_category").unwrap();
    assert!(finding.message.contains("construction") && finding.message.contains("catering"), "{}", finding.message);
    assert_eq!(finding.evidence[0].field, "licence.business_scope");
}

#[test]
fn a_correction_takes_the_place_of_the_reading_which_stays_on_record() {
    let rules = rules();
    let documents = with(vec![licence(), report(600.0, 0.5)], others());
    let corrections = BTreeMap::from([("report.pollutants.cod".to_string(), json!(60.0))]);
    let decision = decide_corrected(&rules, &catering_form(), &documents, catering(0.9), &corrections);
    assert_eq!(decision.outcome, Outcome::Issued, "{:#?}", decision.findings);
    let field = &decision.fields["report.pollutants.cod"];
    assert_eq!((field.source, &field.value, &field.corrected_from), (FieldSource::Correction, &json!(60.0), &Some(json!(600.0))));
    assert_eq!(field.document.as_deref(), Some("水质检测报告.pdf"));
}

#[test]
fn two_documents_of_a_kind_that_disagree_leave_the_field_doubtful() {
    let rules = rules();
    let second = document("营业执照2.pdf", "business_licence", vec![field("name", json!("无锡市新吴区李记餐饮店"), 0.97)]);
    let decision = decide_case(&rules, &catering_form(), &with(vec![licence(), second, report(236.0, 0.97)], others()), catering(0.9));
    assert_eq!(decision.fields["licence.name"].confidence, 0.5);
    assert_eq!(decision.outcome, Outcome::NeedsReview);
}

#[test]
fn what_a_reviewer_may_correct_is_what_the_service_and_its_documents_declare() {
    let rules = rules();
    let drainage = rules.service("drainage-permit").unwrap();
    for key in ["applicant_name", "discharge_category", "licence.name", "report.pollutants.cod", "report.pollutants.las"] {
        assert!(is_correctable(&rules, drainage, key), "{key}");
    }
    for key in ["report.pollutants.gold", "licence.pollutants.cod", "nonsense", "report.nonsense"] {
        assert!(!is_correctable(&rules, drainage, key), "{key}");
    }
    let retirement = rules.service("retirement").unwrap();
    assert!(!is_correctable(&rules, retirement, "discharge_category"));
}

#[test]
fn a_results_row_not_read_keeps_a_clean_case_from_being_issued() {
    let rules = rules();
    let mut unread = report(236.0, 0.97);
    unread.understood.as_mut().unwrap().unread.push(crate::understanding::Unread {
        page: 2,
        text: "7 总锌 mg/L 8.6 5".into(),
        reason: "检测项目无法识别",
    });
    let decision = decide_case(&rules, &catering_form(), &with(vec![licence(), unread], others()), catering(0.9));
    assert_eq!(decision.outcome, Outcome::NeedsReview);
    let finding = rule(&decision, "report.rows_unread").expect("the unread row is a finding");
    assert_eq!(finding.result, RuleResult::Unknown);
    assert!(finding.message.contains("第2页") && finding.message.contains("总锌"), "{}", finding.message);
}

#[test]
fn a_heavy_metal_over_its_limit_fails_whether_the_category_requires_it_or_not() {
    let rules = rules();
    let mut nickel = report(236.0, 0.97);
    nickel.understood.as_mut().unwrap().fields.push(field("pollutants.ni", json!(2.1), 0.97));
    // The client went unread: the exceeded limit is still named, and first.
    nickel.understood.as_mut().unwrap().fields.retain(|f| f.path != "client");
    let decision = decide_case(&rules, &catering_form(), &with(vec![licence(), nickel], others()), catering(0.9));
    assert_eq!(decision.outcome, Outcome::NeedsReview);
    assert_eq!(decision.findings[0].rule, "water.ni_limit", "{:#?}", decision.findings);
    assert_eq!(decision.findings[0].result, RuleResult::Fail);
    assert!(rule(&decision, "report.client_matches").is_some());
}

#[test]
fn a_laboratory_must_measure_the_heavy_metals() {
    let rules = rules();
    let mut form = catering_form();
    form["discharge_category"] = json!("laboratory");
    let lab = Some(InferredCategory { category: "laboratory".into(), confidence: 0.9, cues: vec!["检验检测".into()] });
    let decision = decide_case(&rules, &form, &with(vec![licence(), report(236.0, 0.97)], others()), lab);
    let finding = rule(&decision, "water.required_items").expect("metals required");
    assert_eq!(finding.result, RuleResult::Fail);
    assert!(finding.message.contains("ni"), "{}", finding.message);
}
