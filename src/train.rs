//! `onewindow train-heads`: the encoder's prototype heads, fitted on the project's labelled fixtures,
//! calibrated and measured on the held-out packages, written to `models/encoder/heads.json` and
//! pinned in the manifest.
//!
//! - Prototypes come from the training material: every document of the fixture packages whose kind
//!   `expected.json` names (`fixtures/{drainage-permit,flexible-employment,retirement,photo}`, read
//!   by the service's own reader, OCR included), the hand-written openings of
//!   `fixtures/encoder/kinds.toml`, and for categories the licences of those packages with the
//!   category their form declares plus `fixtures/encoder/categories.toml`.
//! - The held-out packages (`fixtures/heldout`, made independently) fit the softmax temperature and
//!   measure it. The reported error is cross-fitted: each held-out document's probability comes from a
//!   temperature fitted on the other half, so no number is measured on what it was fitted on. The
//!   shipped temperature is fitted on all of them.

pub mod labels;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::models::{self, ENCODER_DIR, HEADS_FILE};
use crate::reading::{Reader, TextLine};
use crate::rules::RuleSet;
use crate::understanding::encoded::{
    argmax, document_text, expected_calibration_error, fit_temperature, pool_reading, says_too_little, scope_text, softmax, unit,
    Calibration, EncoderReading, Head, Heads, DOCUMENT_TOKENS, HEADS_FORMAT, SCOPE_TOKENS,
};
use crate::understanding::{infer_category, DocumentClassifier, KeywordClassifier, Understander};

pub const TRAIN_PACKAGES: [&str; 4] = ["drainage-permit", "flexible-employment", "retirement", "photo"];
pub const HELDOUT_PACKAGES: &str = "heldout";
const CATEGORIES: [&str; 8] = ["catering", "medical", "car_wash", "hotel", "laboratory", "industrial", "construction", "other"];

/// One labelled text: the class, the text the encoder reads, and what the keyword readers see.
struct Example {
    class: String,
    text: String,
    /// The keyword reading of the same material (kind or category, confidence), for the pooled measure.
    keyword: Option<(String, f64)>,
    /// Too short to be a material: the pooled reading is capped, as in decisions.
    short: bool,
}

#[derive(Default)]
struct Labelled {
    kinds: Vec<Example>,
    categories: Vec<Example>,
}

#[derive(Deserialize)]
struct KindsFile {
    document: Vec<KindText>,
}
#[derive(Deserialize)]
struct KindText {
    kind: String,
    text: String,
}
#[derive(Deserialize)]
struct CategoriesFile {
    scope: Vec<ScopeText>,
}
#[derive(Deserialize)]
struct ScopeText {
    category: String,
    name: String,
    scope: String,
}

struct Readers<'a> {
    reader: &'a Reader,
    rules: &'a RuleSet,
    keyword: KeywordClassifier,
    understander: Understander,
}

impl Readers<'_> {
    fn lines_example(&self, class: &str, lines: &[TextLine]) -> Example {
        let keyword = self.keyword.classify(lines);
        Example {
            class: class.to_string(),
            text: document_text(lines),
            keyword: (keyword.kind != "unknown").then_some((keyword.kind, keyword.confidence)),
            short: says_too_little(lines),
        }
    }

    fn scope_example(&self, class: &str, scope: &str, name: &str) -> Example {
        let keyword = infer_category(&self.rules.categories, scope, name);
        Example {
            class: class.to_string(),
            text: scope_text(scope, name),
            keyword: keyword.map(|k| (k.category, k.confidence)),
            short: false,
        }
    }

    /// Every package directory under `root/set` with an `expected.json` naming its documents' kinds.
    fn packages(&self, root: &Path, set: &str, out: &mut Labelled) -> anyhow::Result<()> {
        let dir = root.join(set);
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("expected.json").is_file())
            .collect();
        cases.sort();
        for case in cases {
            let expected: Value = serde_json::from_slice(&std::fs::read(case.join("expected.json"))?)
                .with_context(|| format!("{}/expected.json", case.display()))?;
            let form: Value =
                std::fs::read(case.join("form.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
            let files = expected["files"].as_array().cloned().unwrap_or_default();
            let kinds = expected["document_kinds"].as_array().cloned().unwrap_or_default();
            for (file, kind) in files.iter().zip(&kinds) {
                let (Some(file), Some(kind)) = (file.as_str(), kind.as_str()) else { continue };
                if kind == "unknown" {
                    continue;
                }
                let bytes = std::fs::read(case.join(file)).with_context(|| format!("{}/{file}", case.display()))?;
                let read = self.reader.read(&bytes);
                if !read.is_readable() {
                    eprintln!("  skipped {}/{file}: unreadable", case.display());
                    continue;
                }
                out.kinds.push(self.lines_example(kind, &read.lines));
                if kind == "business_licence" {
                    if let Some(category) = form.get("discharge_category").and_then(Value::as_str) {
                        let understood = self.understander.understand(&read.lines);
                        let field = |path: &str| {
                            understood.fields.iter().find(|f| f.path == path).and_then(|f| f.value.as_str()).unwrap_or_default().to_string()
                        };
                        out.categories.push(self.scope_example(category, &field("business_scope"), &field("name")));
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The fixtures directory (labelled packages and `encoder/*.toml`).
    #[arg(long, default_value = "fixtures")]
    pub fixtures: PathBuf,
    #[command(flatten)]
    pub rules: crate::config::RulesConfig,
    #[command(flatten)]
    pub limits: crate::config::LimitsConfig,
}

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let models_dir = &args.limits.models_dir;
    let verified = models::verify(models_dir)?;
    let weights = verified.digests().get("encoder").cloned().context("the model manifest pins no encoder")?;
    let encoder = encoder::Encoder::from_files(verified.reader(ENCODER_DIR))?;
    let ocr = models::OcrEngine::from_verified(&verified, args.limits.ocr_concurrency)?;
    let exe = std::env::current_exe().context("locating the onewindow binary for the pdf reader")?;
    let reader = Reader::new(args.limits.read_limits(), exe).with_ocr(ocr);
    let rules = RuleSet::load_dir(&args.rules.rules_dir)?;
    let readers = Readers {
        reader: &reader,
        rules: &rules,
        keyword: KeywordClassifier::new(&rules.documents),
        understander: Understander::new(&rules, None),
    };

    let mut train = Labelled::default();
    for set in TRAIN_PACKAGES {
        readers.packages(&args.fixtures, set, &mut train)?;
    }
    let kinds_file: KindsFile = toml::from_str(&std::fs::read_to_string(args.fixtures.join("encoder/kinds.toml"))?)?;
    for doc in kinds_file.document {
        let lines: Vec<TextLine> = doc.text.lines().filter(|l| !l.trim().is_empty()).map(|l| TextLine::new(1, l, 1.0)).collect();
        train.kinds.push(readers.lines_example(&doc.kind, &lines));
    }
    let categories_file: CategoriesFile = toml::from_str(&std::fs::read_to_string(args.fixtures.join("encoder/categories.toml"))?)?;
    for s in categories_file.scope {
        train.categories.push(readers.scope_example(&s.category, &s.scope, &s.name));
    }
    let mut heldout = Labelled::default();
    readers.packages(&args.fixtures, HELDOUT_PACKAGES, &mut heldout)?;

    let kind_classes: Vec<String> = rules.documents.kinds.keys().cloned().collect();
    let category_classes: Vec<String> = CATEGORIES.iter().map(|c| c.to_string()).collect();
    let embed = |examples: &[Example], max_tokens: usize| -> anyhow::Result<Vec<Vec<f32>>> {
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        encoder.embed_cut(&texts, encoder::Role::Query, max_tokens)
    };
    let kinds = fit_head(
        "document kind",
        &kind_classes,
        &train.kinds,
        &embed(&train.kinds, DOCUMENT_TOKENS)?,
        &heldout.kinds,
        &embed(&heldout.kinds, DOCUMENT_TOKENS)?,
    )?;
    let categories = fit_head(
        "discharge category",
        &category_classes,
        &train.categories,
        &embed(&train.categories, SCOPE_TOKENS)?,
        &heldout.categories,
        &embed(&heldout.categories, SCOPE_TOKENS)?,
    )?;
    let heads = Heads { format: HEADS_FORMAT.into(), encoder: weights, kinds, categories };
    let bytes = format!("{}\n", serde_json::to_string(&heads)?).into_bytes();
    std::fs::write(models_dir.join(HEADS_FILE), &bytes)?;
    pin_heads(models_dir, &bytes)?;
    println!("wrote {} and pinned it in {}", models_dir.join(HEADS_FILE).display(), models_dir.join("MANIFEST.toml").display());
    Ok(())
}

fn fit_head(
    what: &str,
    classes: &[String],
    train: &[Example],
    train_embeddings: &[Vec<f32>],
    heldout: &[Example],
    heldout_embeddings: &[Vec<f32>],
) -> anyhow::Result<Head> {
    let index = |class: &str| classes.iter().position(|c| c == class).with_context(|| format!("unknown class {class:?} in the labels"));
    let labelled: Vec<(usize, Vec<f32>)> =
        train.iter().zip(train_embeddings).map(|(e, v)| Ok((index(&e.class)?, v.clone()))).collect::<anyhow::Result<_>>()?;
    let (kept, prototypes, support) = Head::prototypes(classes, &labelled);
    let mut head = Head {
        classes: kept.clone(),
        prototypes,
        temperature: 0.05,
        support,
        familiar_similarity: 0.0,
        calibration: Calibration {
            prototypes_from: format!("{} training examples", train.len()),
            evaluated_on: format!("fixtures/{HELDOUT_PACKAGES} ({} examples), two-fold cross-fitted temperature", heldout.len()),
            examples: heldout.len(),
            accuracy: 0.0,
            ece: 0.0,
            pooled_accuracy: 0.0,
            pooled_ece: 0.0,
        },
    };
    // Held-out examples of a class the head has no prototype for cannot be scored.
    let scored: Vec<(usize, &Example, Vec<f64>)> = heldout
        .iter()
        .zip(heldout_embeddings)
        .filter_map(|(e, v)| kept.iter().position(|c| *c == e.class).map(|truth| (truth, e, head.similarities(v))))
        .collect();
    if scored.len() < 4 {
        bail!("{what}: only {} held-out examples; the temperature cannot be fitted", scored.len());
    }
    let halves: [Vec<usize>; 2] = [(0..scored.len()).filter(|i| i % 2 == 0).collect(), (0..scored.len()).filter(|i| i % 2 == 1).collect()];
    let fit_on = |idx: &[usize]| fit_temperature(&idx.iter().map(|&i| (scored[i].0, scored[i].2.clone())).collect::<Vec<_>>());
    // Just below the lowest similarity of a held-out example to its own class.
    let familiar_on = |idx: &[usize]| idx.iter().map(|&i| scored[i].2[scored[i].0]).fold(f64::INFINITY, f64::min) - FAMILIAR_MARGIN;
    let (mut alone, mut pooled, mut unfamiliar) = (Vec::new(), Vec::new(), 0);
    for (half, other) in [(0, 1), (1, 0)] {
        let t = fit_on(&halves[other]);
        let familiar_similarity = familiar_on(&halves[other]);
        for &i in &halves[half] {
            let (truth, example, sims) = &scored[i];
            let p = softmax(sims, t);
            let familiar = sims.iter().copied().fold(f64::NEG_INFINITY, f64::max) >= familiar_similarity;
            unfamiliar += usize::from(!familiar);
            let (best, prob) = argmax(&p);
            if best != *truth {
                println!(
                    "  miss: {} read as {} ({prob:.2}): {}",
                    kept[*truth],
                    kept[best],
                    example.text.chars().take(40).collect::<String>().replace('\n', " ")
                );
            }
            alone.push((prob, best == *truth));
            let reading = EncoderReading { probabilities: p, familiar };
            let (class, confidence) = pool_reading(example.keyword.as_ref().map(|(c, p)| (c.as_str(), *p)), &kept, &reading, example.short);
            pooled.push((confidence, class == kept[*truth]));
        }
    }
    head.temperature = fit_on(&(0..scored.len()).collect::<Vec<_>>());
    head.familiar_similarity = round4(familiar_on(&(0..scored.len()).collect::<Vec<_>>()));
    let accuracy = |p: &[(f64, bool)]| round4(p.iter().filter(|(_, ok)| *ok).count() as f64 / p.len() as f64);
    head.calibration.accuracy = accuracy(&alone);
    head.calibration.ece = round4(expected_calibration_error(&alone));
    head.calibration.pooled_accuracy = accuracy(&pooled);
    head.calibration.pooled_ece = round4(expected_calibration_error(&pooled));
    let per_class: BTreeMap<&str, usize> = kept.iter().map(String::as_str).zip(head.support.iter().copied()).collect();
    println!("{what}: {} training examples {per_class:?}", train.len());
    println!(
        "{what}: held-out {} (scored {}, {unfamiliar} found unlike any material): encoder accuracy {:.3}, ECE {:.3}; pooled with keywords accuracy {:.3}, ECE {:.3}; temperature {:.4}, familiar from similarity {:.4}",
        heldout.len(),
        scored.len(),
        head.calibration.accuracy,
        head.calibration.ece,
        head.calibration.pooled_accuracy,
        head.calibration.pooled_ece,
        head.temperature,
        head.familiar_similarity
    );
    head.prototypes = head.prototypes.into_iter().map(|p| unit(p.iter().map(|x| (x * 1e6).round() / 1e6).collect())).collect();
    Ok(head)
}

/// How far below the lowest held-out similarity the familiarity threshold sits.
const FAMILIAR_MARGIN: f64 = 0.005;

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Replace the heads' `[[model]]` table in the manifest, keeping every other table as written and
/// the tables ordered by path (as the Python preparation tools write them).
fn pin_heads(models_dir: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let path = models_dir.join("MANIFEST.toml");
    let text = std::fs::read_to_string(&path)?;
    let (header, body) =
        text.split_once("\n[[model]]").map(|(h, b)| (h.trim_end(), format!("[[model]]{b}"))).unwrap_or((text.trim_end(), String::new()));
    let mut tables: Vec<String> =
        body.split("\n[[model]]").map(|t| t.trim().trim_start_matches("[[model]]").trim().to_string()).filter(|t| !t.is_empty()).collect();
    let path_of = |table: &str| -> String {
        toml::from_str::<toml::Value>(table)
            .ok()
            .and_then(|v| v.get("path").and_then(|p| p.as_str()).map(str::to_string))
            .unwrap_or_default()
    };
    tables.retain(|t| path_of(t) != HEADS_FILE);
    tables.push(format!(
        "path = \"{HEADS_FILE}\"\nsha256 = \"{}\"\nbytes = {}\npackage = \"onewindow\"\nversion = \"{}\"\nsource_file = \"fixtures (labelled packages, encoder/*.toml)\"\nlicence = \"MIT\"\ncommand = \"cargo run --release -- train-heads\"\nrole = \"encoder-heads\"",
        hex::encode(Sha256::digest(bytes)),
        bytes.len(),
        env!("CARGO_PKG_VERSION")
    ));
    tables.sort_by_key(|t| path_of(t));
    let mut out = format!("{header}\n");
    for t in tables {
        out.push_str(&format!("\n[[model]]\n{t}\n"));
    }
    std::fs::write(&path, out)?;
    models::verify(models_dir).context("the manifest after pinning the heads")?;
    Ok(())
}
