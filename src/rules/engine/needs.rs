//! Which materials a form needs before any document is read: the service's material conditions
//! evaluated on the form alone, with none and with all of the other materials present.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::{CompiledService, Facts};

impl CompiledService {
    /// The materials the service asks for, each with whether this form needs it: `Some(true)`
    /// always, `Some(false)` not at all, `None` depending on the other materials (a pledge in
    /// place of a report). Decided on the form alone, before any document is read.
    pub fn material_needs(&self, form: &Value) -> Vec<(&str, Option<bool>)> {
        let facts = |materials| Facts {
            form: form.clone(),
            documents: BTreeMap::new(),
            materials,
            category: "other".into(),
            limits: Value::Null,
            required_items: Vec::new(),
            submitted: NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date"),
        };
        let all: Vec<String> = self.material_ids().map(str::to_string).collect();
        let with_none = self.evaluate(&facts(Vec::new())).missing_materials;
        self.materials
            .iter()
            .map(|m| {
                let others: Vec<String> = all.iter().filter(|id| **id != m.id).cloned().collect();
                let needed_alone = with_none.contains(&m.id);
                let needed_with_others = self.evaluate(&facts(others)).missing_materials.contains(&m.id);
                let need = match (needed_alone, needed_with_others) {
                    (true, true) => Some(true),
                    (false, false) => Some(false),
                    _ => None,
                };
                (m.id.as_str(), need)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pledge_makes_the_report_depend_on_it_and_a_key_discharger_needs_monitoring() {
        let rules = crate::rules::RuleSet::load_dir(&crate::config::default_rules_dir()).unwrap();
        let drainage = rules.service("drainage-permit").unwrap();
        let need = |form: serde_json::Value, id: &str| {
            let form = crate::rules::schema::apply_defaults(drainage.form_schema(), &form);
            drainage.material_needs(&form).into_iter().find(|(m, _)| *m == id).unwrap().1
        };
        assert_eq!(need(serde_json::json!({"key_discharger": false}), "business_licence"), Some(true));
        assert_eq!(need(serde_json::json!({"key_discharger": false}), "monitoring_docs"), Some(false));
        assert_eq!(need(serde_json::json!({"key_discharger": true}), "monitoring_docs"), Some(true));
        assert_eq!(need(serde_json::json!({"key_discharger": false}), "pledge"), Some(false));
        let pledged = serde_json::json!({"key_discharger": false, "pledges": {"water_quality": true}});
        assert_eq!(need(pledged.clone(), "water_quality_report"), None, "the report or the pledge");
        assert_eq!(need(pledged, "pledge"), Some(true));
    }
}
