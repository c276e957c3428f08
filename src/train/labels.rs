//! `onewindow fit-labels`: the two numbers by which a label no synonym list holds is read by meaning
//! (`understanding::meaning`), fitted on the synonym lists themselves.
//!
//! Every label of every kind (its fields' synonyms, and the labels that mean none of its fields) is
//! held out in turn: removed from the anchors, it is read as an unlisted label would be. It should
//! come back as its own field, or as nothing; coming back as another field is the one error that
//! matters. The fitted pair is the one that reads the most held-out field labels with no such error,
//! and among those the strictest. Its precision and recall are also measured cross-fitted (the
//! records split in two by position, each half measured with the pair fitted on the other), the
//! honest figure for labels the lists have never held.

use std::path::PathBuf;

use anyhow::Context;

use crate::models::{self, ENCODER_DIR};
use crate::rules::catalog::LabelMeaningSpec;
use crate::rules::RuleSet;
use crate::understanding::meaning::{accepts, anchor_labels, Anchors, Meaning, Nearest, LABEL_TOKENS};

#[derive(Debug, clap::Args)]
pub struct FitLabelsArgs {
    #[command(flatten)]
    pub rules: crate::config::RulesConfig,
    /// The models directory, with its MANIFEST.toml.
    #[arg(long, env = "ONEWINDOW_MODELS_DIR", default_value_os_t = crate::models::default_models_dir())]
    pub models_dir: PathBuf,
    /// Print every held-out label's reading.
    #[arg(long)]
    pub verbose: bool,
}

/// One held-out label and how it was read.
struct Record {
    kind: String,
    label: String,
    truth: Meaning,
    nearest: Nearest,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Score {
    /// Field labels read as their own field.
    right: usize,
    /// Labels read as a field they do not mean.
    wrong: usize,
    /// Held-out labels of a field.
    fields: usize,
}

impl Score {
    fn of<'a>(spec: &LabelMeaningSpec, records: impl Iterator<Item = &'a Record>) -> Self {
        let mut score = Score::default();
        for r in records {
            score.fields += usize::from(matches!(r.truth, Meaning::Field(_)));
            if accepts(spec, &r.nearest) {
                if r.nearest.meaning == r.truth {
                    score.right += 1;
                } else {
                    score.wrong += 1;
                }
            }
        }
        score
    }

    fn precision(&self) -> f64 {
        match self.right + self.wrong {
            0 => 1.0,
            n => self.right as f64 / n as f64,
        }
    }

    fn recall(&self) -> f64 {
        match self.fields {
            0 => 0.0,
            n => self.right as f64 / n as f64,
        }
    }
}

/// The pair reading the most field labels right with none wrong; among equals the strictest.
fn fit<'a>(records: impl Iterator<Item = &'a Record> + Clone) -> LabelMeaningSpec {
    let round = |x: f64| (x * 1000.0).floor() / 1000.0;
    let mut similarities: Vec<f64> = records.clone().map(|r| round(r.nearest.similarity)).collect();
    let mut margins: Vec<f64> = records.clone().map(|r| round(r.nearest.margin)).chain([0.0]).collect();
    for v in [&mut similarities, &mut margins] {
        v.sort_by(f64::total_cmp);
        v.dedup();
    }
    let mut best = (LabelMeaningSpec { similarity: 1.0, margin: 0.999 }, 0usize);
    for &similarity in &similarities {
        for &margin in &margins {
            let spec = LabelMeaningSpec { similarity, margin };
            let score = Score::of(&spec, records.clone());
            let stricter = similarity >= best.0.similarity && margin >= best.0.margin;
            if score.wrong == 0 && (score.right > best.1 || (score.right == best.1 && stricter)) {
                best = (spec, score.right);
            }
        }
    }
    best.0
}

pub fn fit_labels(args: FitLabelsArgs) -> anyhow::Result<()> {
    let verified = models::verify(&args.models_dir)?;
    let encoder = encoder::Encoder::from_files(verified.reader(ENCODER_DIR))?;
    let rules = RuleSet::load_dir(&args.rules.rules_dir)?;
    let documents = &rules.documents;
    let mut records = Vec::new();
    for (kind, spec) in &documents.kinds {
        let labels = anchor_labels(kind, spec, documents);
        if !labels.iter().any(|(m, _)| matches!(m, Meaning::Field(_))) {
            continue;
        }
        let texts: Vec<&str> = labels.iter().map(|(_, l)| l.as_str()).collect();
        let embeddings = encoder.embed_cut(&texts, encoder::Role::Query, LABEL_TOKENS).context("embedding the labels")?;
        let anchors = Anchors::new(
            labels.iter().cloned().zip(embeddings.iter().cloned()).map(|((m, l), e)| (m, l, e)).collect(),
            &documents.label_heads,
        );
        for ((truth, label), embedding) in labels.into_iter().zip(&embeddings) {
            let Some(nearest) = anchors.nearest(&label, embedding, Some(&label)) else { continue };
            records.push(Record { kind: kind.clone(), label, truth, nearest });
        }
    }
    if args.verbose {
        for r in &records {
            let name = |m: &Meaning| match m {
                Meaning::Field(f) => f.clone(),
                Meaning::Other => "-".into(),
            };
            println!(
                "{:<22} {:<12} {:<22} -> {:<22} via {:<12} similarity {:.3} margin {:.3}",
                r.kind,
                r.label,
                name(&r.truth),
                name(&r.nearest.meaning),
                r.nearest.anchor,
                r.nearest.similarity,
                r.nearest.margin
            );
        }
    }
    let fitted = fit(records.iter());
    let in_sample = Score::of(&fitted, records.iter());
    let halves = [0, 1].map(|h| records.iter().enumerate().filter(move |(i, _)| i % 2 == h).map(|(_, r)| r));
    let mut crossed = Score::default();
    for h in 0..2 {
        let spec = fit(halves[1 - h].clone());
        let s = Score::of(&spec, halves[h].clone());
        crossed = Score { right: crossed.right + s.right, wrong: crossed.wrong + s.wrong, fields: crossed.fields + s.fields };
        println!(
            "half {h}: fitted on the other half similarity {:.3} margin {:.3}: {} right, {} wrong",
            spec.similarity, spec.margin, s.right, s.wrong
        );
    }
    println!(
        "{} held-out labels ({} of fields); fitted similarity = {:.3}, margin = {:.3}",
        records.len(),
        in_sample.fields,
        fitted.similarity,
        fitted.margin
    );
    println!(
        "in sample:   precision {:.3} recall {:.3} ({} right, {} wrong)",
        in_sample.precision(),
        in_sample.recall(),
        in_sample.right,
        in_sample.wrong
    );
    println!(
        "cross-fitted: precision {:.3} recall {:.3} ({} right, {} wrong)",
        crossed.precision(),
        crossed.recall(),
        crossed.right,
        crossed.wrong
    );
    if documents.label_meaning != Some(fitted) {
        println!("rules/documents.toml holds {:?}: put the fitted pair under [label_meaning]", documents.label_meaning);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(truth: &str, read: &str, similarity: f64, margin: f64) -> Record {
        let meaning = |m: &str| if m == "-" { Meaning::Other } else { Meaning::Field(m.into()) };
        Record {
            kind: "k".into(),
            label: String::new(),
            truth: meaning(truth),
            nearest: Nearest { meaning: meaning(read), anchor: String::new(), similarity, margin },
        }
    }

    #[test]
    fn the_fit_reads_the_most_labels_right_with_none_wrong_and_is_the_strictest_such() {
        let records = [
            record("client", "client", 0.95, 0.10),
            record("client", "client", 0.92, 0.06),
            record("lab", "client", 0.93, 0.03),
            record("-", "lab", 0.90, 0.08),
            record("lab", "lab", 0.91, 0.02),
        ];
        let spec = fit(records.iter());
        // Both client labels read right; the wrong client (margin 0.03) and the wrong lab
        // (similarity 0.90) kept out; the strictest pair that still reads both.
        assert_eq!(spec, LabelMeaningSpec { similarity: 0.92, margin: 0.06 });
        let score = Score::of(&spec, records.iter());
        assert_eq!((score.right, score.wrong, score.fields), (2, 0, 4));
    }
}
