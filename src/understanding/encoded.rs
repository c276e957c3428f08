//! The encoder's reading of what a document is and what a business does, pooled with the keyword
//! readings.
//!
//! A head is one prototype per class: the mean of the encoder's embeddings of the project's labelled
//! examples (`onewindow train-heads`), scored by cosine similarity and turned into probabilities by a
//! softmax whose temperature was fitted on documents the prototypes never saw. The keyword reading
//! and the encoder's are pooled log-linearly (a normalised geometric mean): where they agree the
//! pooled reading is at least as sure as the less sure of the two, where they disagree neither wins
//! and a person looks. When the keywords find nothing at all, the encoder speaks alone, never surer
//! than [`ENCODER_ALONE_CAP`]; a text unlike every material it knows is never read above
//! [`UNFAMILIAR_CAP`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::inference::{InferenceError, TextEmbedder};
use crate::reading::TextLine;

use super::normalize::{compact, halfwidth};
use super::{Classification, DocumentClassifier, InferredCategory, KeywordClassifier};

pub const HEADS_FORMAT: &str = "onewindow-heads/1";
/// Lines from the top of a document that the encoder reads, and at most how many tokens of them:
/// the opening names the material, and the encoder's time grows with every token (256 tokens took
/// about 400 ms on two cores, 128 about half).
pub const DOCUMENT_LINES: usize = 40;
pub const DOCUMENT_TOKENS: usize = 128;
/// A business scope and name rarely need more.
pub const SCOPE_TOKENS: usize = 96;
/// One reader's opinion alone never makes the machine fully sure.
pub const ENCODER_ALONE_CAP: f64 = 0.9;
/// A keyword reading is never treated as certain: the encoder's dissent must be able to count.
const KEYWORD_CERTAINTY_CAP: f64 = 0.98;
/// A page with less text than this (spaces removed) says too little to be a material, whatever the
/// classifiers think of its few words.
pub const MIN_DOCUMENT_CHARS: usize = 24;
pub const SHORT_DOCUMENT_CAP: f64 = 0.6;

/// How sure a head's probabilities were on documents it was not fitted on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Which examples the prototypes came from, and which fitted the temperature and measured it.
    pub prototypes_from: String,
    pub evaluated_on: String,
    pub examples: usize,
    pub accuracy: f64,
    /// Expected calibration error over ten equal-width confidence bins (cross-fitted: each example's
    /// probability comes from a temperature fitted on the other half of the evaluation set).
    pub ece: f64,
    /// The same two measures for the pooled keyword and encoder reading that decisions use.
    pub pooled_accuracy: f64,
    pub pooled_ece: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Head {
    pub classes: Vec<String>,
    /// Unit-length class means, one per class.
    pub prototypes: Vec<Vec<f32>>,
    pub temperature: f64,
    /// Training examples per class.
    pub support: Vec<usize>,
    /// A text whose best similarity to any prototype is below this is unlike every material the
    /// head was trained on (a menu, a poem): the encoder then vouches for nothing. Set just below the
    /// lowest similarity of a held-out example to its own class.
    pub familiar_similarity: f64,
    pub calibration: Calibration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heads {
    pub format: String,
    /// `sha256:…` of the encoder weights the prototypes were computed with.
    pub encoder: String,
    pub kinds: Head,
    pub categories: Head,
}

impl Head {
    /// Prototypes from labelled embeddings (`(class index, unit embedding)`); classes without an
    /// example are left out.
    pub fn prototypes(classes: &[String], examples: &[(usize, Vec<f32>)]) -> (Vec<String>, Vec<Vec<f32>>, Vec<usize>) {
        let mut kept = (Vec::new(), Vec::new(), Vec::new());
        for (idx, class) in classes.iter().enumerate() {
            let members: Vec<&Vec<f32>> = examples.iter().filter(|(c, _)| *c == idx).map(|(_, e)| e).collect();
            let Some(first) = members.first() else { continue };
            let mut mean = vec![0f32; first.len()];
            for e in &members {
                for (m, v) in mean.iter_mut().zip(e.iter()) {
                    *m += v;
                }
            }
            kept.0.push(class.clone());
            kept.1.push(unit(mean));
            kept.2.push(members.len());
        }
        kept
    }

    pub fn similarities(&self, embedding: &[f32]) -> Vec<f64> {
        self.prototypes.iter().map(|p| p.iter().zip(embedding).map(|(a, b)| (a * b) as f64).sum()).collect()
    }

    /// The head's reading of one unit embedding: class probabilities, and whether the text is like
    /// anything the head knows.
    pub fn read(&self, embedding: &[f32]) -> EncoderReading {
        let similarities = self.similarities(embedding);
        let familiar = similarities.iter().copied().fold(f64::NEG_INFINITY, f64::max) >= self.familiar_similarity;
        EncoderReading { probabilities: softmax(&similarities, self.temperature), familiar }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EncoderReading {
    pub probabilities: Vec<f64>,
    pub familiar: bool,
}

/// How sure the machine may be of a reading when the encoder finds the text unlike any material.
pub const UNFAMILIAR_CAP: f64 = 0.5;

pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

pub fn softmax(scores: &[f64], temperature: f64) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| ((s - max) / temperature).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

pub fn argmax(p: &[f64]) -> (usize, f64) {
    p.iter().copied().enumerate().fold((0, f64::NEG_INFINITY), |best, (i, v)| if v > best.1 { (i, v) } else { best })
}

/// The temperature that minimises the mean negative log-likelihood of the true classes, over a
/// geometric grid (a one-parameter fit on few examples: a grid is exact enough and cannot diverge).
///
/// The fit adds one pseudo-example the head gets wrong (a Laplace-style count: the example of median
/// margin, labelled as its runner-up). Without it, a held-out set the head classifies perfectly
/// drives the temperature to zero and every later reading to certainty, which a few dozen examples
/// cannot justify; with it, a typical reading is about as sure as n correct out of n + 1.
pub fn fit_temperature(similarities: &[(usize, Vec<f64>)]) -> f64 {
    let mut with_doubt = similarities.to_vec();
    let mut margins: Vec<(f64, usize, &Vec<f64>)> = similarities
        .iter()
        .map(|(_, s)| {
            let (best, top) = argmax(s);
            let (runner_up, second) =
                s.iter()
                    .copied()
                    .enumerate()
                    .filter(|(i, _)| *i != best)
                    .fold((best, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
            (top - second, runner_up, s)
        })
        .collect();
    margins.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, runner_up, s)) = margins.get(margins.len() / 2) {
        with_doubt.push((*runner_up, (*s).clone()));
    }
    let grid = (0..=80).map(|i| 0.001 * (1.06f64).powi(i * 2));
    grid.map(|t| (t, nll(&with_doubt, t))).min_by(|a, b| a.1.total_cmp(&b.1)).map(|(t, _)| t).unwrap_or(0.05)
}

fn nll(similarities: &[(usize, Vec<f64>)], temperature: f64) -> f64 {
    similarities.iter().map(|(truth, s)| -softmax(s, temperature)[*truth].max(1e-12).ln()).sum::<f64>() / similarities.len().max(1) as f64
}

/// Expected calibration error of `(confidence, correct)` pairs over ten equal-width bins.
pub fn expected_calibration_error(predictions: &[(f64, bool)]) -> f64 {
    const BINS: usize = 10;
    let mut bins = vec![(0.0f64, 0.0f64, 0usize); BINS];
    for &(confidence, correct) in predictions {
        let bin = ((confidence * BINS as f64) as usize).min(BINS - 1);
        bins[bin].0 += confidence;
        bins[bin].1 += if correct { 1.0 } else { 0.0 };
        bins[bin].2 += 1;
    }
    let n = predictions.len().max(1) as f64;
    bins.iter().filter(|b| b.2 > 0).map(|(conf, acc, _)| (conf - acc).abs() / n).sum()
}

/// Pool a keyword reading (`None` when the keywords found nothing) with the encoder's reading over
/// `classes`. Returns the class and its pooled probability. A text the encoder finds unlike any
/// material keeps the keywords' class, or the encoder's best guess, never above [`UNFAMILIAR_CAP`];
/// a document that says too little ([`says_too_little`]) is never above [`SHORT_DOCUMENT_CAP`].
pub fn pool_reading(keyword: Option<(&str, f64)>, classes: &[String], encoder: &EncoderReading, too_little: bool) -> (String, f64) {
    let (class, p) = pool(keyword, classes, &encoder.probabilities);
    let (class, p) = match keyword {
        _ if encoder.familiar => (class, p),
        Some((k, c)) if classes.iter().any(|x| x == k) => (k.to_string(), c.min(UNFAMILIAR_CAP)),
        _ => (class, p.min(UNFAMILIAR_CAP)),
    };
    (class, if too_little { p.min(SHORT_DOCUMENT_CAP) } else { p })
}

/// Pool a keyword reading (`None` when the keywords found nothing) with the encoder's probabilities
/// over `classes`. Returns the class and its pooled probability.
fn pool(keyword: Option<(&str, f64)>, classes: &[String], encoder: &[f64]) -> (String, f64) {
    let Some((keyword_class, keyword_confidence)) = keyword.filter(|(class, _)| classes.iter().any(|c| c == class)) else {
        let (idx, p) = argmax(encoder);
        return (classes[idx].clone(), p.min(ENCODER_ALONE_CAP));
    };
    // The keyword reading as a distribution: its confidence on its class, the rest spread evenly.
    let k = keyword_confidence.clamp(1.0 / classes.len() as f64, KEYWORD_CERTAINTY_CAP);
    let rest = (1.0 - k) / (classes.len() - 1).max(1) as f64;
    let pooled: Vec<f64> =
        classes.iter().zip(encoder).map(|(class, &e)| (if class == keyword_class { k } else { rest } * e.max(1e-9)).sqrt()).collect();
    let sum: f64 = pooled.iter().sum();
    let (idx, p) = argmax(&pooled);
    (classes[idx].clone(), p / sum)
}

/// The text of a document the encoder reads: its opening lines.
pub fn document_text(lines: &[TextLine]) -> String {
    lines.iter().take(DOCUMENT_LINES).map(|l| l.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Whether a document says too little to be a material: under [`MIN_DOCUMENT_CHARS`], spaces removed.
pub fn says_too_little(lines: &[TextLine]) -> bool {
    lines.iter().map(|l| compact(&halfwidth(&l.text)).chars().count()).sum::<usize>() < MIN_DOCUMENT_CHARS
}

/// The text the category head reads: what the business is registered to do, then its name.
pub fn scope_text(business_scope: &str, name: &str) -> String {
    format!("经营范围：{}\n名称：{}", business_scope.trim(), name.trim())
}

/// The encoder as understanding uses it: an embedder and the heads fitted on its embeddings.
#[derive(Clone)]
pub struct EncoderReader {
    pub embedder: Arc<dyn TextEmbedder>,
    pub heads: Arc<Heads>,
}

impl std::fmt::Debug for EncoderReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderReader").field("digests", &self.embedder.digests()).finish()
    }
}

impl EncoderReader {
    fn embed(&self, text: &str, max_tokens: usize) -> Result<Vec<f32>, InferenceError> {
        self.embedder.embed(text, max_tokens)
    }
}

/// The keyword classifier and the encoder's kind head, pooled.
pub struct PooledClassifier {
    keyword: KeywordClassifier,
    engine: EncoderReader,
}

impl PooledClassifier {
    pub fn new(keyword: KeywordClassifier, engine: EncoderReader) -> Self {
        Self { keyword, engine }
    }
}

impl DocumentClassifier for PooledClassifier {
    fn classify(&self, lines: &[TextLine]) -> Classification {
        let keyword = self.keyword.classify(lines);
        let embedding = match self.engine.embed(&document_text(lines), DOCUMENT_TOKENS) {
            Ok(e) => e,
            Err(e) => {
                // The keywords still stand; the encoder's silence must not make the machine surer.
                tracing::error!(error = %format!("{e:#}"), "the encoder failed on a document");
                return keyword;
            }
        };
        let head = &self.engine.heads.kinds;
        let known = (keyword.kind != "unknown").then_some((keyword.kind.as_str(), keyword.confidence));
        let (kind, confidence) = pool_reading(known, &head.classes, &head.read(&embedding), says_too_little(lines));
        Classification { kind, confidence: round3(confidence) }
    }
}

/// What the encoder adds to a category reading, named for the reviewer beside the cue words.
pub const ENCODER_CUE: &str = "经营范围文本语义（编码器）";

/// The keyword category reading pooled with the encoder's category head; the keyword reading alone
/// when there is no scope or name to read or the encoder fails.
pub fn pooled_category(
    engine: &EncoderReader,
    keyword: Option<InferredCategory>,
    business_scope: &str,
    name: &str,
) -> Option<InferredCategory> {
    if business_scope.trim().is_empty() && name.trim().is_empty() {
        return keyword;
    }
    let embedding = match engine.embed(&scope_text(business_scope, name), SCOPE_TOKENS) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the encoder failed on a business scope");
            return keyword;
        }
    };
    let head = &engine.heads.categories;
    let known = keyword.as_ref().map(|k| (k.category.as_str(), k.confidence));
    let (category, confidence) = pool_reading(known, &head.classes, &head.read(&embedding), false);
    let mut cues = keyword.filter(|k| k.category == category).map(|k| k.cues).unwrap_or_default();
    cues.push(ENCODER_CUE.to_string());
    Some(InferredCategory { category, confidence: round3(confidence), cues })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn agreement_keeps_the_class_and_is_at_least_as_sure_as_the_less_sure_reader() {
        let (class, p) = pool(Some(("a", 0.8)), &classes(), &[0.7, 0.1, 0.1, 0.1]);
        assert_eq!(class, "a");
        assert!(p > 0.7 && p < 0.8, "{p}");
        let (_, p) = pool(Some(("a", 0.95)), &classes(), &[0.97, 0.01, 0.01, 0.01]);
        assert!(p > 0.95, "{p}");
    }

    #[test]
    fn disagreement_leaves_neither_sure() {
        let (_, p) = pool(Some(("a", 0.9)), &classes(), &[0.05, 0.85, 0.05, 0.05]);
        assert!(p < 0.7, "{p}");
    }

    #[test]
    fn the_encoder_alone_is_capped() {
        assert_eq!(pool(None, &classes(), &[0.99, 0.01, 0.0, 0.0]), ("a".to_string(), ENCODER_ALONE_CAP));
        assert_eq!(pool(Some(("unheard-of", 0.9)), &classes(), &[0.1, 0.6, 0.2, 0.1]), ("b".to_string(), 0.6));
    }

    #[test]
    fn a_text_unlike_any_material_is_never_read_with_confidence() {
        let unfamiliar = EncoderReading { probabilities: vec![0.97, 0.01, 0.01, 0.01], familiar: false };
        assert_eq!(pool_reading(None, &classes(), &unfamiliar, false), ("a".to_string(), UNFAMILIAR_CAP));
        assert_eq!(pool_reading(Some(("b", 0.95)), &classes(), &unfamiliar, false), ("b".to_string(), UNFAMILIAR_CAP));
        let familiar = EncoderReading { familiar: true, ..unfamiliar };
        assert_eq!(pool_reading(None, &classes(), &familiar, false), ("a".to_string(), ENCODER_ALONE_CAP));
    }

    #[test]
    fn calibration_error_is_zero_when_confidence_matches_accuracy_and_large_when_not() {
        let honest: Vec<(f64, bool)> = (0..10).map(|i| (0.75, i < 7 || i == 9)).collect();
        assert!(expected_calibration_error(&honest) < 0.051);
        let overconfident: Vec<(f64, bool)> = (0..10).map(|i| (0.99, i < 5)).collect();
        assert!((expected_calibration_error(&overconfident) - 0.49).abs() < 1e-9);
    }

    #[test]
    fn the_fitted_temperature_is_sharper_for_separable_data() {
        let clean: Vec<(usize, Vec<f64>)> = (0..20).map(|i| (i % 2, if i % 2 == 0 { vec![0.9, 0.5] } else { vec![0.5, 0.9] })).collect();
        let noisy: Vec<(usize, Vec<f64>)> = (0..20).map(|i| (i % 2, if i % 4 < 3 { vec![0.9, 0.5] } else { vec![0.5, 0.9] })).collect();
        assert!(fit_temperature(&clean) < fit_temperature(&noisy));
    }

    #[test]
    fn prototypes_are_unit_means_and_skip_empty_classes() {
        let (kept, protos, support) = Head::prototypes(&classes(), &[(0, vec![1.0, 0.0]), (0, vec![0.0, 1.0]), (2, vec![0.0, 1.0])]);
        assert_eq!(kept, vec!["a".to_string(), "c".to_string()]);
        assert_eq!(support, vec![2, 1]);
        assert!((protos[0][0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }
}
