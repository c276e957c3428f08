//! 我要退休: the statutory age after the 2025 increase and the minimum contribution, rule by rule,
//! on both sides of each boundary (domain.md §2.5 worked examples).

use chrono::NaiveDate;
use onewindow::rules::{Facts, RuleSet, RuleStatus};
use serde_json::{json, Value};

use crate::helpers::repo;

fn ruleset() -> RuleSet {
    RuleSet::load_dir(&repo().join("rules")).unwrap()
}

/// A man born 1965-01-15 (statutory age 60y1m: from 2025-02-15), 35 years of contributions.
fn facts(form: Value, submitted: &str) -> Facts {
    let mut documents = std::collections::BTreeMap::new();
    documents.insert("card".to_string(), json!({"name": form["name"], "id_number": form["id_number"], "valid_until": "long_term"}));
    documents.insert("contributions".to_string(), json!({"name": form["name"], "months": form["contribution_months"]}));
    Facts {
        form,
        documents,
        materials: vec!["id_card".into(), "contribution_record".into()],
        category: String::new(),
        limits: json!({}),
        required_items: vec![],
        submitted: NaiveDate::parse_from_str(submitted, "%Y-%m-%d").unwrap(),
    }
}

fn man_born_1965_01() -> Value {
    json!({"name": "王建国", "id_number": "32021119650115123X", "sex": "male", "original_retirement_age": 60,
           "contribution_months": 420, "requested_date": "2025-02-15", "option": "normal"})
}

fn statuses(rules: &RuleSet, facts: &Facts) -> Vec<(String, RuleStatus)> {
    rules.service("retirement").unwrap().evaluate(facts).outcomes.into_iter().map(|o| (o.id, o.status)).collect()
}

fn status(rules: &RuleSet, facts: &Facts, rule: &str) -> RuleStatus {
    statuses(rules, facts).into_iter().find(|(id, _)| id == rule).unwrap().1
}

#[test]
fn the_worked_example_passes_on_the_day_and_fails_the_day_before() {
    let rules = ruleset();
    let on_the_day = facts(man_born_1965_01(), "2025-02-01");
    for (id, status) in statuses(&rules, &on_the_day) {
        assert!(matches!(status, RuleStatus::Pass | RuleStatus::NotApplicable), "{id}: {status:?}");
    }
    let mut form = man_born_1965_01();
    form["requested_date"] = json!("2025-02-14");
    assert_eq!(status(&rules, &facts(form, "2025-02-01"), "age.reached"), RuleStatus::Fail);
}

#[test]
fn women_from_fifty_reach_fifty_five_for_births_from_november_1984() {
    let rules = ruleset();
    let form = json!({"name": "李梅", "id_number": "320214198411051022", "sex": "female", "original_retirement_age": 50,
                      "contribution_months": 300, "requested_date": "2039-11-05", "option": "normal"});
    assert_eq!(status(&rules, &facts(form.clone(), "2039-10-01"), "age.reached"), RuleStatus::Pass, "55 years on 2039-11-05");
    let mut early = form.clone();
    early["requested_date"] = json!("2039-11-04");
    assert_eq!(status(&rules, &facts(early, "2039-10-01"), "age.reached"), RuleStatus::Fail);
}

#[test]
fn each_rule_fails_on_its_defect() {
    let rules = ruleset();
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit)> = vec![
        ("form.id_number", |f| f["id_number"] = json!("320211196501151237")),
        ("form.sex_matches_id", |f| f["sex"] = json!("female")),
        ("form.original_age", |f| f["original_retirement_age"] = json!(55)),
        ("contribution.minimum", |f| f["contribution_months"] = json!(179)),
        ("card.name_matches", |_| {}),
        ("card.id_matches", |_| {}),
        ("card.sex_and_birth_match_number", |_| {}),
        ("contributions.name_matches", |_| {}),
        ("contributions.months_support_form", |_| {}),
    ];
    for (rule, edit) in cases {
        let mut form = man_born_1965_01();
        edit(&mut form);
        let mut facts = facts(form, "2025-02-01");
        if rule == "card.name_matches" {
            facts.documents.get_mut("card").unwrap()["name"] = json!("王建军");
        }
        if rule == "card.sex_and_birth_match_number" {
            facts.documents.get_mut("card").unwrap()["sex"] = json!("女");
            facts.documents.get_mut("card").unwrap()["birth"] = json!("1965-01-15");
        }
        if rule == "contributions.name_matches" {
            facts.documents.get_mut("contributions").unwrap()["name"] = json!("王建军");
        }
        if rule == "contributions.months_support_form" {
            // The form claims 420 months; the record shows 408.
            facts.documents.get_mut("contributions").unwrap()["months"] = json!(408.0);
        }
        if rule == "card.id_matches" {
            facts.documents.get_mut("card").unwrap()["id_number"] = json!("320214197003152225");
        }
        assert_eq!(status(&rules, &facts, rule), RuleStatus::Fail, "{rule}");
    }
}

#[test]
fn an_expired_card_fails_a_valid_one_passes_and_an_unread_validity_goes_to_a_person() {
    let rules = ruleset();
    let with_validity = |until: Option<&str>| {
        let mut facts = facts(man_born_1965_01(), "2025-02-01");
        let card = facts.documents.get_mut("card").unwrap();
        match until {
            Some(until) => card["valid_until"] = json!(until),
            None => {
                card.as_object_mut().unwrap().remove("valid_until");
            }
        }
        facts
    };
    assert_eq!(status(&rules, &with_validity(Some("long_term")), "card.not_expired"), RuleStatus::Pass);
    assert_eq!(status(&rules, &with_validity(Some("2025-02-01")), "card.not_expired"), RuleStatus::Pass, "valid through its last day");
    assert_eq!(status(&rules, &with_validity(Some("2025-01-31")), "card.not_expired"), RuleStatus::Fail);
    assert!(matches!(status(&rules, &with_validity(None), "card.not_expired"), RuleStatus::Unknown(_)), "front side only: a person checks");
}

#[test]
fn the_minimum_contribution_rises_in_2030_and_early_and_late_have_their_windows() {
    let rules = ruleset();
    // 182 months of contributions: enough to retire in 2029 (180), not in 2030 (186).
    let mut form = man_born_1965_01();
    form["contribution_months"] = json!(182);
    form["requested_date"] = json!("2029-12-31");
    form["option"] = json!("late");
    assert_eq!(status(&rules, &facts(form.clone(), "2029-12-01"), "contribution.minimum"), RuleStatus::Pass);
    form["requested_date"] = json!("2030-01-02");
    assert_eq!(status(&rules, &facts(form.clone(), "2029-12-01"), "contribution.minimum"), RuleStatus::Fail);

    // Late: up to three years after the statutory age (60y1m → 63y1m); at 64y11m it is too late.
    assert_eq!(status(&rules, &facts(form.clone(), "2029-12-01"), "age.late_window"), RuleStatus::Fail, "64y11m");
    form["requested_date"] = json!("2028-02-15");
    assert_eq!(status(&rules, &facts(form.clone(), "2028-01-01"), "age.late_window"), RuleStatus::Pass, "63y1m");
    form["requested_date"] = json!("2028-03-15");
    assert_eq!(status(&rules, &facts(form.clone(), "2028-01-01"), "age.late_window"), RuleStatus::Fail, "63y2m");

    // Early: never below the original age of 60 (the statutory age is 60y1m).
    form["option"] = json!("early");
    form["contribution_months"] = json!(420);
    form["requested_date"] = json!("2025-01-15");
    assert_eq!(status(&rules, &facts(form.clone(), "2025-01-01"), "age.early_window"), RuleStatus::Pass, "60y0m");
    form["requested_date"] = json!("2025-01-14");
    assert_eq!(status(&rules, &facts(form.clone(), "2025-01-01"), "age.early_window"), RuleStatus::Fail, "59y11m");
}

#[test]
fn a_retirement_application_without_its_materials_asks_for_both_in_one_notice() {
    let form = man_born_1965_01();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("form.json");
    std::fs::write(&path, form.to_string()).unwrap();
    let output = std::process::Command::new(crate::helpers::onewindow_exe())
        .args(["decide", "--service", "retirement", "--form", path.to_str().unwrap(), "--at", "2025-02-01"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let decision: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["outcome"], "needs_materials");
    assert_eq!(decision["missing_materials"], json!(["contribution_record", "id_card"]));
}
