//! Every rule of the drainage permit with a passing and a failing case (table-driven), the
//! material requirements with their pledge substitutes, and load-time refusal of broken rule files.

use chrono::NaiveDate;
use onewindow::rules::engine::limits_for;
use onewindow::rules::{Facts, RuleSet, RuleStatus};
use serde_json::{json, Value};

use crate::decide_cli::copy_dir;
use crate::helpers::{repo, Fixture};

fn ruleset() -> RuleSet {
    RuleSet::load_dir(&repo().join("rules")).unwrap()
}

/// A clean catering application: everything passes.
fn clean_facts(rules: &RuleSet) -> Facts {
    let form = Fixture::load("clean-catering-stsong").form;
    let mut documents = std::collections::BTreeMap::new();
    documents.insert(
        "licence".to_string(),
        json!({"name": "无锡市新吴区张记餐饮店", "credit_code": "92320214MA1NB3C47B", "business_scope": "餐饮服务", "legal_representative": "张建国",
               "address": "江苏省无锡市新吴区长江路21号"}),
    );
    documents.insert(
        "report".to_string(),
        json!({"client": "无锡市新吴区张记餐饮店", "sampling_date": "2026-10-08", "report_date": "2026-10-12", "site": "无锡市新吴区长江路21号（W1）",
               "pollutants": {"ph": 7.2, "cod": 236.0, "bod5": 98.0, "ss": 120.0, "nh3n": 20.5, "tn": 30.0, "tp": 3.1,
                              "oil": 12.0, "petroleum": 1.0, "temperature": 24.0, "las": 4.2, "chlorine": 0.5,
                              "hg": 0.0004, "cd": 0.004, "cr": 0.03, "cr6": 0.004, "as": 0.003, "pb": 0.01, "ni": 0.05,
                              "coliform": 2200.0}}),
    );
    Facts {
        form,
        documents,
        materials: ["business_licence", "water_quality_report", "drainage_plan", "pretreatment_docs", "concealed_works_report"]
            .map(String::from)
            .to_vec(),
        category: "catering".into(),
        limits: limits_for(&rules.water, "B"),
        required_items: rules.test_items.required["catering"].clone(),
        submitted: NaiveDate::from_ymd_opt(2026, 10, 20).unwrap(),
    }
}

fn status_of(rules: &RuleSet, facts: &Facts, rule: &str) -> RuleStatus {
    let evaluation = rules.service("drainage-permit").unwrap().evaluate(facts);
    evaluation.outcomes.into_iter().find(|o| o.id == rule).unwrap_or_else(|| panic!("no rule {rule}")).status
}

type Mutation = fn(&mut Facts);

fn cases() -> Vec<(&'static str, Mutation)> {
    vec![
        ("applicant.key_discharger", |f| f.form["key_discharger"] = json!(true)),
        ("form.credit_code", |f| f.form["credit_code"] = json!("92320214MA1NB3C47C")),
        ("form.contact_phone", |f| f.form["contact_phone"] = json!("1234")),
        ("licence.credit_code", |f| f.documents.get_mut("licence").unwrap()["credit_code"] = json!("92320214MA1NB3C4IB")),
        ("licence.name_matches", |f| f.documents.get_mut("licence").unwrap()["name"] = json!("无锡市新吴区李记餐饮店")),
        ("licence.legal_representative_matches", |f| f.documents.get_mut("licence").unwrap()["legal_representative"] = json!("李四")),
        // A form address in another city than the licence's premises and the sampling site.
        ("licence.address_matches", |f| f.form["address"] = json!("苏州市工业园区星湖街328号")),
        ("report.site_matches", |f| f.documents.get_mut("report").unwrap()["site"] = json!("无锡市新吴区珠江路8号")),
        ("licence.credit_code_matches", |f| f.documents.get_mut("licence").unwrap()["credit_code"] = json!("91320214MA20K7L53Q")),
        ("report.client_matches", |f| f.documents.get_mut("report").unwrap()["client"] = json!("无锡某某公司")),
        ("report.sampling_not_future", |f| f.documents.get_mut("report").unwrap()["sampling_date"] = json!("2026-10-21")),
        ("report.sampling_recent", |f| f.documents.get_mut("report").unwrap()["sampling_date"] = json!("2026-09-19")),
        ("report.results_read", |f| f.documents.get_mut("report").unwrap()["pollutants"] = json!({})),
        ("water.required_items", |f| {
            f.documents.get_mut("report").unwrap()["pollutants"].as_object_mut().unwrap().remove("las");
        }),
        ("water.ph_range", |f| f.documents.get_mut("report").unwrap()["pollutants"]["ph"] = json!(10.2)),
        ("water.cod_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["cod"] = json!(620.0)),
        ("water.bod5_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["bod5"] = json!(351.0)),
        ("water.ss_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["ss"] = json!(401.0)),
        ("water.nh3n_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["nh3n"] = json!(45.1)),
        ("water.tn_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["tn"] = json!(70.5)),
        ("water.tp_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["tp"] = json!(8.01)),
        ("water.oil_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["oil"] = json!(150.0)),
        ("water.petroleum_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["petroleum"] = json!(16.0)),
        ("water.temperature_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["temperature"] = json!(41.0)),
        ("water.las_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["las"] = json!(25.0)),
        ("water.chlorine_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["chlorine"] = json!(9.0)),
        // Just over each limit: the heavy metals have one limit for every grade.
        ("water.hg_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["hg"] = json!(0.0051)),
        ("water.cd_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["cd"] = json!(0.051)),
        ("water.cr_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["cr"] = json!(1.51)),
        ("water.cr6_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["cr6"] = json!(0.51)),
        ("water.as_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["as"] = json!(0.31)),
        ("water.pb_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["pb"] = json!(0.51)),
        ("water.ni_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["ni"] = json!(2.1)),
        ("water.coliform_limit", |f| f.documents.get_mut("report").unwrap()["pollutants"]["coliform"] = json!(5100.0)),
        ("outlets.foul_present", |f| f.form["outlets"] = json!([{"id": "Y1", "kind": "storm", "position": "东侧", "diameter_mm": 300}])),
    ]
}

#[test]
fn every_rule_passes_on_a_clean_application_and_fails_on_its_defect() {
    let rules = ruleset();
    let clean = clean_facts(&rules);
    let evaluation = rules.service("drainage-permit").unwrap().evaluate(&clean);
    assert!(evaluation.missing_materials.is_empty(), "{:?}", evaluation.missing_materials);
    for outcome in &evaluation.outcomes {
        assert_eq!(outcome.status, RuleStatus::Pass, "{} on the clean application", outcome.id);
    }
    let cases = cases();
    // The shipped key-discharger list is empty: that rule fails only with a list of the district's
    // (an_applicant_on_the_key_discharger_list_who_declares_otherwise_goes_to_a_person).
    let tested_apart = ["applicant.key_discharger_listed"];
    for outcome in evaluation.outcomes.iter().filter(|o| !tested_apart.contains(&o.id.as_str())) {
        assert!(cases.iter().any(|(id, _)| *id == outcome.id), "rule {} has no failing case in this table", outcome.id);
    }
    for (rule, mutate) in cases {
        let mut facts = clean.clone();
        mutate(&mut facts);
        assert_eq!(status_of(&rules, &facts, rule), RuleStatus::Fail, "{rule}");
    }
}

#[test]
fn limits_follow_the_plant_grade() {
    let rules = ruleset();
    let mut facts = clean_facts(&rules);
    facts.documents.get_mut("report").unwrap()["pollutants"]["cod"] = json!(380.0);
    assert_eq!(status_of(&rules, &facts, "water.cod_limit"), RuleStatus::Pass, "B: 500");
    facts.limits = limits_for(&rules.water, "C");
    assert_eq!(status_of(&rules, &facts, "water.cod_limit"), RuleStatus::Fail, "C: 300");
}

#[test]
fn a_field_that_was_not_read_makes_its_rule_unknown_not_passed() {
    let rules = ruleset();
    let mut facts = clean_facts(&rules);
    facts.documents.get_mut("report").unwrap().as_object_mut().unwrap().remove("client");
    assert!(matches!(status_of(&rules, &facts, "report.client_matches"), RuleStatus::Unknown(_)));
}

#[test]
fn pledges_replace_reports_and_set_spot_check() {
    let rules = ruleset();
    let service = rules.service("drainage-permit").unwrap();
    let mut facts = clean_facts(&rules);
    facts.materials.retain(|m| m != "water_quality_report" && m != "concealed_works_report");
    let evaluation = service.evaluate(&facts);
    assert_eq!(evaluation.missing_materials, vec!["water_quality_report", "concealed_works_report"]);
    assert!(!evaluation.spot_check);

    facts.form["pledges"] = json!({"concealed_works": true, "water_quality": true});
    let evaluation = service.evaluate(&facts);
    assert_eq!(
        evaluation.missing_materials,
        vec!["water_quality_report", "concealed_works_report", "pledge"],
        "a pledge flag without the pledge document replaces nothing"
    );
    facts.materials.push("pledge".into());
    let evaluation = service.evaluate(&facts);
    assert!(evaluation.missing_materials.is_empty());
    assert!(evaluation.spot_check);

    facts.form["key_discharger"] = json!(true);
    assert_eq!(service.evaluate(&facts).missing_materials, vec!["monitoring_docs"]);
}

/// An edit of the drainage-permit rule file's text.
type Edit = fn(&str) -> String;

fn load_with(edit: impl Fn(&str) -> String) -> Result<RuleSet, String> {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("rules"), dir.path());
    let path = dir.path().join("drainage-permit.toml");
    std::fs::write(&path, edit(&std::fs::read_to_string(&path).unwrap())).unwrap();
    RuleSet::load_dir(dir.path()).map_err(|e| e.to_string())
}

#[test]
fn broken_rule_files_stop_loading_with_a_clear_error() {
    let cases: Vec<(Edit, &str)> = vec![
        (|t| t.replace("form.outlets.exists(o, o.kind == 'foul')", "form.outlet.exists(o, o.kind == 'foul')"), "form.outlet"),
        (|t| t.replace("!form.key_discharger", "!form.key_discharger &&"), "does not compile"),
        (|t| t.replace("valid_phone(form.contact_phone)", "valid_phone(form.contact_phone) || frm.x"), "frm"),
        (|t| t.replace("report.pollutants.cod <= limits.cod", "report.pollutants.cod <= limits.codx"), "limits.codx"),
        (|t| t.replace("[service]", "[service"), "does not parse"),
        (|t| t.replace("id = \"pledge\"", "id = \"pledges\""), "pledges"),
        (|t| t.replace("report.pollutants.cod <= limits.cod", "report.pollutants.cod <= form.applicant_name"), "water.cod_limit"),
        // The site-check reason settles this rule: renamed away, the reason would settle nothing.
        (|t| t.replace("id = \"applicant.key_discharger\"", "id = \"applicant.key_discharger_site\""), "settles unknown rule"),
    ];
    for (edit, expected) in cases {
        let error = load_with(edit).expect_err(expected);
        assert!(error.contains(expected), "`{error}` should mention `{expected}`");
    }
    let unchanged = load_with(|t| t.to_string()).unwrap();
    assert_eq!(unchanged.hash(), ruleset().hash(), "the hash depends on content, not location");
    let reworded = load_with(|t| t.replace("不一致", "不相符")).unwrap();
    assert_ne!(reworded.hash(), ruleset().hash(), "any change changes the hash");
    let _: Value = json!(null);
}

#[test]
fn an_applicant_on_the_key_discharger_list_who_declares_otherwise_goes_to_a_person() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("rules"), dir.path());
    let code = Fixture::load("clean-catering-stsong").form["credit_code"].as_str().unwrap().to_string();
    let table = format!("[[dischargers]]\ncredit_code = \"{code}\"\nname = \"无锡市新吴区张记餐饮店\"\n");
    std::fs::write(dir.path().join("tables/key-dischargers.toml"), &table).unwrap();
    let listed = RuleSet::load_dir(dir.path()).unwrap();
    let mut facts = clean_facts(&listed);
    assert!(matches!(status_of(&listed, &facts, "applicant.key_discharger_listed"), RuleStatus::Fail));
    // Declared as one, the listed applicant passes this rule (and goes to the site check).
    facts.form["key_discharger"] = json!(true);
    assert!(matches!(status_of(&listed, &facts, "applicant.key_discharger_listed"), RuleStatus::Pass));
    // Not on the shipped (empty) list: the declaration stands.
    let rules = ruleset();
    assert!(matches!(status_of(&rules, &clean_facts(&rules), "applicant.key_discharger_listed"), RuleStatus::Pass));
    // A list entry that is no credit code stops the rule set from loading.
    std::fs::write(dir.path().join("tables/key-dischargers.toml"), table.replace(&code, "123")).unwrap();
    assert!(RuleSet::load_dir(dir.path()).unwrap_err().to_string().contains("key-dischargers"));
}
