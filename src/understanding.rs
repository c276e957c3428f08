//! Understanding: which material each document is, and the typed fields read from it.

pub mod classify;
pub mod encoded;
pub mod fields;
pub mod normalize;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::models::EncoderEngine;
use crate::reading::TextLine;
use crate::rules::catalog::CategoriesFile;
use crate::rules::RuleSet;

pub use classify::{Classification, DocumentClassifier, KeywordClassifier};
pub use fields::ExtractedField;

use fields::{KindReader, PollutantReader};
use normalize::{compact, halfwidth};

/// What the service understood of one readable document.
#[derive(Debug, Clone)]
pub struct Understood {
    pub classification: Classification,
    /// Fields with paths relative to the kind's rule variable.
    pub fields: Vec<ExtractedField>,
}

/// The understanding stage, built once per rule set.
pub struct Understander {
    classifier: Box<dyn DocumentClassifier>,
    encoder: Option<Arc<EncoderEngine>>,
    readers: BTreeMap<String, KindReader>,
    pollutants: PollutantReader,
}

impl Understander {
    /// With the encoder, documents and categories are read by the keywords and the encoder pooled;
    /// without it, by the keywords alone.
    pub fn new(rules: &RuleSet, encoder: Option<Arc<EncoderEngine>>) -> Self {
        let keyword = KeywordClassifier::new(&rules.documents);
        let classifier: Box<dyn DocumentClassifier> = match &encoder {
            Some(engine) => Box::new(encoded::PooledClassifier::new(keyword, engine.clone())),
            None => Box::new(keyword),
        };
        let readers =
            rules.documents.kinds.iter().map(|(id, spec)| (id.clone(), KindReader::new(spec, &rules.documents.other_labels))).collect();
        Self { classifier, encoder, readers, pollutants: PollutantReader::new(&rules.water) }
    }

    /// The discharge category from the licence: the keyword reading pooled with the encoder's.
    pub fn infer_category(&self, categories: &CategoriesFile, business_scope: &str, name: &str) -> Option<InferredCategory> {
        let keyword = infer_category(categories, business_scope, name);
        match &self.encoder {
            Some(engine) => encoded::pooled_category(engine, keyword, business_scope, name),
            None => keyword,
        }
    }

    pub fn understand(&self, lines: &[TextLine]) -> Understood {
        let classification = self.classifier.classify(lines);
        let mut fields = self.readers.get(&classification.kind).map(|r| r.read(lines)).unwrap_or_default();
        if classification.kind == "water_quality_report" {
            fields.extend(self.pollutants.read(lines));
        }
        Understood { classification, fields }
    }
}

/// A discharge category worked out from the licence, with its confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct InferredCategory {
    pub category: String,
    pub confidence: f64,
    /// The cue words that decided it, for the reviewer.
    pub cues: Vec<String>,
}

/// Confidence of a category with cues from one category only.
const CATEGORY_CLEAR: f64 = 0.9;
/// Cues in the licence name only, nothing in the business scope: below the threshold, a person
/// confirms (a name is a brand, not a registered activity).
const CATEGORY_NAME_ONLY: f64 = 0.7;
/// Two or more categories have cues: a person decides.
const CATEGORY_CONTESTED: f64 = 0.5;

/// Works out the discharge category from the business scope and name on the licence. The scope is
/// the stronger evidence (it is what the business is registered to do); the name helps.
pub fn infer_category(categories: &CategoriesFile, business_scope: &str, name: &str) -> Option<InferredCategory> {
    let scope = compact(&halfwidth(business_scope));
    let name = compact(&halfwidth(name));
    let mut scored: Vec<(f64, &str, Vec<String>, bool)> = categories
        .categories
        .iter()
        .map(|(category, cues)| {
            let mut hits = Vec::new();
            let mut score = 0.0;
            let mut in_scope = false;
            for cue in cues {
                let cue_c = compact(&halfwidth(cue));
                if scope.contains(&cue_c) {
                    score += 2.0;
                    in_scope = true;
                    hits.push(cue.clone());
                } else if name.contains(&cue_c) {
                    score += 1.0;
                    hits.push(cue.clone());
                }
            }
            (score, category.as_str(), hits, in_scope)
        })
        .filter(|(score, _, _, _)| *score > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let (best, category, cues, in_scope) = scored.first()?.clone();
    let contested = scored.len() > 1 && scored[1].0 * 2.0 > best;
    let confidence = if contested {
        CATEGORY_CONTESTED
    } else if in_scope {
        CATEGORY_CLEAR
    } else {
        CATEGORY_NAME_ONLY
    };
    Some(InferredCategory { category: category.to_string(), confidence, cues })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories() -> CategoriesFile {
        RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap().categories
    }

    #[test]
    fn category_from_scope_is_confident_when_clear() {
        let c = infer_category(&categories(), "餐饮服务；食品销售", "无锡市新吴区张记餐饮店").unwrap();
        assert_eq!(c.category, "catering");
        assert_eq!(c.confidence, CATEGORY_CLEAR);
    }

    #[test]
    fn competing_categories_are_not_confident() {
        let c = infer_category(&categories(), "住宿服务；餐饮服务", "某某酒店").unwrap();
        assert!(c.confidence < 0.8, "{c:?}");
        assert!(infer_category(&categories(), "软件开发；信息技术咨询", "某某科技有限公司").is_none());
    }
}
