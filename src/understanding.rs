//! Understanding: which material each document is, and the typed fields read from it.

pub mod classify;
pub mod encoded;
pub mod fields;
pub mod meaning;
pub mod normalize;

use std::collections::BTreeMap;

use crate::reading::{ReadDocument, TextLine};
use crate::rules::catalog::CategoriesFile;
use crate::rules::RuleSet;

pub use classify::{Classification, DocumentClassifier, KeywordClassifier};
pub use fields::{ExtractedField, Unread};

use fields::{KindReader, PollutantReader};
use normalize::{compact, halfwidth};

/// What the service understood of one readable document.
#[derive(Debug, Clone)]
pub struct Understood {
    pub classification: Classification,
    /// Fields with paths relative to the kind's rule variable.
    pub fields: Vec<ExtractedField>,
    /// What the readers saw and could not read (a results row of no known item).
    pub unread: Vec<Unread>,
}

impl Understood {
    /// What a document is taken for when understanding it broke: nothing, so a person looks.
    pub fn nothing() -> Self {
        Self { classification: Classification { kind: "unknown".into(), confidence: 0.0 }, fields: vec![], unread: vec![] }
    }
}

/// The understanding stage's hand-off for one file: what it was taken for and what was read from
/// it, with what the decision must know of how it was read (not the text itself).
#[derive(Debug, Clone)]
pub struct UnderstoodDocument {
    pub file: String,
    pub sha256: String,
    /// Why the file could not be read; `None` when it was.
    pub unreadable: Option<String>,
    /// Read by OCR (a photo or a scan): what it does not show may only not have been read.
    pub read_by_ocr: bool,
    /// Read after its broken structure was rebuilt: it may have lost what nothing shows was there.
    pub repaired: bool,
    /// `None` for a file that could not be read.
    pub understood: Option<Understood>,
}

impl UnderstoodDocument {
    pub fn is_readable(&self) -> bool {
        self.unreadable.is_none()
    }
}

/// The understanding stage, built once per rule set.
pub struct Understander {
    classifier: Box<dyn DocumentClassifier>,
    encoder: Option<encoded::EncoderReader>,
    readers: BTreeMap<String, KindReader>,
    /// Kinds with a results table, and the field it is read under.
    results: BTreeMap<String, String>,
    pollutants: PollutantReader,
    /// Labels no list holds, read by meaning: with the encoder, when the rule set says how.
    meaning: Option<meaning::LabelMatcher>,
}

impl Understander {
    /// With the encoder, documents and categories are read by the keywords and the encoder pooled;
    /// without it, by the keywords alone.
    pub fn new(rules: &RuleSet, encoder: Option<encoded::EncoderReader>) -> Self {
        let keyword = KeywordClassifier::new(&rules.documents);
        let classifier: Box<dyn DocumentClassifier> = match &encoder {
            Some(engine) => Box::new(encoded::PooledClassifier::new(keyword, engine.clone())),
            None => Box::new(keyword),
        };
        let readers = rules.documents.kinds.iter().map(|(id, spec)| (id.clone(), KindReader::new(spec, &rules.documents))).collect();
        let results = rules.documents.kinds.iter().filter_map(|(id, spec)| Some((id.clone(), spec.results.clone()?))).collect();
        let meaning = encoder
            .as_ref()
            .zip(rules.documents.label_meaning)
            .map(|(engine, spec)| meaning::LabelMatcher::new(engine.embedder.clone(), spec, &rules.documents));
        Self { classifier, encoder, readers, results, pollutants: PollutantReader::new(&rules.water), meaning }
    }

    /// `role → sha256:…` of the encoder and its heads, when loaded.
    pub fn model_digests(&self) -> BTreeMap<String, String> {
        self.encoder.as_ref().map(|e| e.embedder.digests()).unwrap_or_default()
    }

    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
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
        let kind = classification.kind.as_str();
        let field_of = |label: &str| self.meaning.as_ref().and_then(|m| m.field_of(kind, label));
        let by_meaning: Option<meaning::FieldOf<'_>> = self.meaning.as_ref().map(|_| &field_of as _);
        let mut fields = self.readers.get(kind).map(|r| r.read_with(lines, by_meaning)).unwrap_or_default();
        let mut unread = Vec::new();
        if let Some(under) = self.results.get(&classification.kind) {
            let results = self.pollutants.read_under(under, lines);
            fields.extend(results.fields);
            unread = results.unread;
        }
        Understood { classification, fields, unread }
    }

    /// The understand stage for one file as read. A reader bug on strange text must not take the
    /// decision down (defence in depth): the document is then of unknown kind and a person looks.
    pub fn understand_document(&self, document: &ReadDocument) -> UnderstoodDocument {
        let read = &document.read;
        let understood = read.is_readable().then(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.understand(&read.lines))).unwrap_or_else(|_| {
                tracing::error!(file = %document.file, "understanding panicked");
                Understood::nothing()
            })
        });
        UnderstoodDocument {
            file: document.file.clone(),
            sha256: document.sha256.clone(),
            unreadable: read.unreadable.clone(),
            read_by_ocr: read.lines.iter().any(|l| !l.pieces.is_empty()),
            repaired: read.method.ends_with(crate::reading::pdf::REPAIRED),
            understood,
        }
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
