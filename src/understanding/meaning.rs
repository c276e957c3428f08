//! Labels by meaning: a label that no synonym list holds (医疗机构名称, 收样日期), matched to a field
//! of its document's kind by the encoder.
//!
//! Each kind's labels are anchors: every synonym of each of its fields, and as *none of them* the
//! labels of fields the service does not read (`other_labels`) and the other kinds' labels. A label
//! the lists do not hold means the class of its nearest anchor (cosine of the encoder's unit
//! embeddings, best anchor per class) when that similarity is at least `similarity` and at least
//! `margin` above the best anchor of any other class; otherwise it means nothing. Both numbers
//! are fitted on data by `onewindow fit-labels` (leave-one-label-out over the synonym lists: each
//! label, removed from the anchors, must come back as its own field or as nothing, never as another
//! field) and kept in `rules/documents.toml` (`[label_meaning]`), so a rule set names how it reads.
//! Zero wrong holds only in sample: cross-fitted, a few accepted labels mean another field, so a
//! value read by meaning stays below the issue threshold (`fields::CONF_BY_MEANING`).
//! A label that means a field the document already gave by a listed label reads nothing (and
//! makes that reading doubtful when its value differs): one label never fills two fields, and the
//! listed label is the surer reading.
//!
//! Chinese labels are compounds whose last noun says what they name (受检**单位** is a
//! unit, 受检**地址** a place, 报告**编号** a number, not a date): a field is a candidate for a label
//! only when one of its own labels ends in the same head (the longest of `label_heads` the label
//! ends in, else its last character). The encoder alone, which weighs the shared 受检 most, would
//! read 受检单位 as the site.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::inference::TextEmbedder;
use crate::rules::catalog::{DocumentsFile, KindSpec, LabelMeaningSpec};

/// Label embeddings cut to this many tokens: a label is a few words.
pub const LABEL_TOKENS: usize = 16;
/// Labels remembered across documents (a district's materials repeat their labels); past this the
/// cache is emptied and refilled.
const CACHE_LABELS: usize = 4096;

/// What a label may mean on a document of one kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Meaning {
    /// One of the kind's fields.
    Field(String),
    /// A label of something the service does not read from this kind.
    Other,
}

/// The nearest class to a label, how near, and by how much nearer than the next class.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearest {
    pub meaning: Meaning,
    /// The label of the nearest anchor, for the reviewer.
    pub anchor: String,
    pub similarity: f64,
    pub margin: f64,
}

/// The field a label means on the document being read, if any is accepted (`LabelMatcher::field_of`
/// for that document's kind, or a stand-in in tests).
pub type FieldOf<'a> = &'a dyn Fn(&str) -> Option<Nearest>;

/// One kind's anchors: its fields' labels, and the labels that mean none of them.
pub fn anchor_labels(kind: &str, spec: &KindSpec, documents: &DocumentsFile) -> Vec<(Meaning, String)> {
    let mut anchors: Vec<(Meaning, String)> =
        spec.fields.iter().flat_map(|(field, f)| f.labels.iter().map(move |l| (Meaning::Field(field.clone()), l.clone()))).collect();
    let own: Vec<String> = anchors.iter().map(|(_, l)| l.clone()).collect();
    let others = documents.other_labels.iter().chain(
        documents.kinds.iter().filter(|(k, _)| k.as_str() != kind).flat_map(|(_, s)| s.fields.values().flat_map(|f| f.labels.iter())),
    );
    for label in others {
        if !own.contains(label) && !anchors.iter().any(|(_, l)| l == label) {
            anchors.push((Meaning::Other, label.clone()));
        }
    }
    anchors
}

/// The head noun a label ends in: the longest of `heads` it ends in, else its last character.
pub fn head<'a>(label: &'a str, heads: &[String]) -> &'a str {
    let longest = heads.iter().filter(|h| label.ends_with(h.as_str())).map(|h| h.len()).max();
    let at = match longest {
        Some(n) => label.len() - n,
        None => label.char_indices().last().map_or(0, |(i, _)| i),
    };
    &label[at..]
}

/// Anchors with their embeddings.
pub struct Anchors {
    entries: Vec<(Meaning, String, Vec<f32>)>,
    heads: Vec<String>,
}

impl Anchors {
    /// `heads`: the rule set's `label_heads`, by which a label's head noun is found.
    pub fn new(entries: Vec<(Meaning, String, Vec<f32>)>, heads: &[String]) -> Self {
        Self { entries, heads: heads.to_vec() }
    }

    /// The nearest class to `label` (whose embedding is `embedding`), leaving out the anchors whose
    /// label is `leave_out` (the fit's held-out label). Only fields with a label of the same head
    /// are candidates; *none of them* always is. `None` with fewer than two classes to compare.
    pub fn nearest(&self, label: &str, embedding: &[f32], leave_out: Option<&str>) -> Option<Nearest> {
        let own_head = head(label, &self.heads);
        let eligible: Vec<&Meaning> = self
            .entries
            .iter()
            .filter(|(m, l, _)| Some(l.as_str()) != leave_out && (*m == Meaning::Other || head(l, &self.heads) == own_head))
            .map(|(m, _, _)| m)
            .collect();
        let mut best: BTreeMap<&Meaning, (f64, &str)> = BTreeMap::new();
        for (meaning, label, anchor) in &self.entries {
            if Some(label.as_str()) == leave_out || !eligible.contains(&meaning) {
                continue;
            }
            let similarity: f64 = anchor.iter().zip(embedding).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let slot = best.entry(meaning).or_insert((f64::NEG_INFINITY, label));
            if similarity > slot.0 {
                *slot = (similarity, label);
            }
        }
        let mut ranked: Vec<(&Meaning, f64, &str)> = best.into_iter().map(|(m, (s, l))| (m, s, l)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let [(meaning, similarity, anchor), (_, second, _), ..] = ranked.as_slice() else { return None };
        Some(Nearest { meaning: (*meaning).clone(), anchor: anchor.to_string(), similarity: *similarity, margin: similarity - second })
    }
}

/// Whether a nearest class is sure enough, by the fitted numbers, to read a field under it.
pub fn accepts(spec: &LabelMeaningSpec, nearest: &Nearest) -> bool {
    matches!(nearest.meaning, Meaning::Field(_)) && nearest.similarity >= spec.similarity && nearest.margin >= spec.margin
}

/// The encoder's reading of labels, for the understanding stage: anchors built once per kind on
/// first need, label embeddings remembered.
pub struct LabelMatcher {
    embedder: Arc<dyn TextEmbedder>,
    spec: LabelMeaningSpec,
    heads: Vec<String>,
    anchors: BTreeMap<String, Vec<(Meaning, String)>>,
    built: Mutex<BTreeMap<String, Arc<Anchors>>>,
    cache: Mutex<BTreeMap<String, Vec<f32>>>,
}

impl LabelMatcher {
    pub fn new(embedder: Arc<dyn TextEmbedder>, spec: LabelMeaningSpec, documents: &DocumentsFile) -> Self {
        let anchors = documents.kinds.iter().map(|(kind, s)| (kind.clone(), anchor_labels(kind, s, documents))).collect();
        Self {
            embedder,
            spec,
            heads: documents.label_heads.clone(),
            anchors,
            built: Mutex::new(BTreeMap::new()),
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    fn embed(&self, label: &str) -> Option<Vec<f32>> {
        if let Some(e) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(label) {
            return Some(e.clone());
        }
        let embedding = self.embedder.embed(label, LABEL_TOKENS).ok()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LABELS {
            cache.clear();
        }
        cache.insert(label.to_string(), embedding.clone());
        Some(embedding)
    }

    /// The anchors of `kind`. On first need every kind's are built at once, each label embedded
    /// once in the encoder's batches (measured: about 0.7 s, once a process).
    fn anchors(&self, kind: &str) -> Option<Arc<Anchors>> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if built.is_empty() {
            let mut texts: Vec<&str> = self.anchors.values().flatten().map(|(_, l)| l.as_str()).collect();
            texts.sort_unstable();
            texts.dedup();
            let embeddings: BTreeMap<&str, Vec<f32>> =
                texts.iter().copied().zip(self.embedder.embed_many(&texts, LABEL_TOKENS).ok()?).collect();
            for (k, labels) in &self.anchors {
                let entries =
                    labels.iter().map(|(m, l)| Some((m.clone(), l.clone(), embeddings.get(l.as_str())?.clone()))).collect::<Option<_>>()?;
                built.insert(k.clone(), Arc::new(Anchors::new(entries, &self.heads)));
            }
        }
        built.get(kind).cloned()
    }

    /// The field `label` means on a document of `kind`, when the fitted numbers accept it. An
    /// encoder that fails reads nothing (the field stays unread and a person looks).
    pub fn field_of(&self, kind: &str, label: &str) -> Option<Nearest> {
        let anchors = self.anchors(kind)?;
        let nearest = anchors.nearest(label, &self.embed(label)?, None)?;
        accepts(&self.spec, &nearest).then_some(nearest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors() -> Anchors {
        Anchors::new(
            vec![
                (Meaning::Field("client".into()), "委托单位".into(), vec![1.0, 0.0, 0.0]),
                (Meaning::Field("client".into()), "受检单位".into(), vec![0.9, 0.436, 0.0]),
                (Meaning::Field("lab".into()), "检测单位".into(), vec![0.0, 1.0, 0.0]),
                (Meaning::Other, "联系电话".into(), vec![0.0, 0.0, 1.0]),
                (Meaning::Field("site".into()), "受检地址".into(), vec![0.6, 0.0, 0.8]),
            ],
            &["单位".to_string(), "地址".to_string(), "机构".to_string()],
        )
    }

    #[test]
    fn the_nearest_class_is_taken_by_its_best_anchor_with_the_margin_over_the_next() {
        let n = anchors().nearest("送检单位", &[0.8, 0.6, 0.0], None).unwrap();
        assert_eq!(n.meaning, Meaning::Field("client".into()));
        assert_eq!(n.anchor, "受检单位");
        assert!((n.similarity - (0.72 + 0.2616)).abs() < 1e-6);
        assert!((n.margin - (0.9816 - 0.6)).abs() < 1e-6);
    }

    #[test]
    fn a_left_out_label_is_no_anchor() {
        let n = anchors().nearest("送检单位", &[0.9, 0.436, 0.0], Some("受检单位")).unwrap();
        assert_eq!(n.anchor, "委托单位");
    }

    #[test]
    fn a_field_whose_labels_end_in_another_head_is_no_candidate() {
        // Nearest by the encoder is the site (受检地址), but a label ending in 单位 names a unit.
        let n = anchors().nearest("被检单位", &[0.8, 0.0, 0.6], None).unwrap();
        assert_eq!(n.meaning, Meaning::Field("client".into()));
        // A label ending in 地址 may be the site.
        let n = anchors().nearest("检测地址", &[0.8, 0.0, 0.6], None).unwrap();
        assert_eq!(n.meaning, Meaning::Field("site".into()));
        assert_eq!(head("送检单位", &["单位".into()]), "单位");
        assert_eq!(head("联系人", &["单位".into()]), "人");
    }

    #[test]
    fn only_a_field_near_enough_and_clear_of_the_next_class_is_accepted() {
        let spec = LabelMeaningSpec { similarity: 0.9, margin: 0.05 };
        let near = |meaning: Meaning, similarity, margin| Nearest { meaning, anchor: String::new(), similarity, margin };
        assert!(accepts(&spec, &near(Meaning::Field("client".into()), 0.95, 0.06)));
        assert!(!accepts(&spec, &near(Meaning::Field("client".into()), 0.89, 0.2)), "not near enough");
        assert!(!accepts(&spec, &near(Meaning::Field("client".into()), 0.99, 0.04)), "too close to another class");
        assert!(!accepts(&spec, &near(Meaning::Other, 0.99, 0.5)), "a label the service does not read");
    }
}
