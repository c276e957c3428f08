//! Which material a document is: a transparent keyword classifier over titles and cue words.
//!
//! The confidence is honest by construction: it grows with the margin between the best and the
//! second-best kind and is capped low when the document never names itself. The encoder-based
//! classifier of the models issue plugs in behind the same `DocumentClassifier` trait.

use crate::reading::TextLine;
use crate::rules::catalog::DocumentsFile;

use super::normalize::{compact, halfwidth};

/// What a classifier concluded about one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// A material id, or `unknown`.
    pub kind: String,
    pub confidence: f64,
}

pub trait DocumentClassifier: Send + Sync {
    fn classify(&self, lines: &[TextLine]) -> Classification;
}

/// Lines near the top of the first page where a document names itself.
const TITLE_ZONE_LINES: usize = 8;
/// A title line may carry a little more than the title (副本, a year, a lab's name).
const TITLE_LINE_SLACK_CHARS: usize = 10;
const TITLE_WEIGHT: f64 = 4.0;
const CUE_WEIGHT: f64 = 1.0;
const MAX_CUES_COUNTED: usize = 6;
/// Margin scale: a margin of this many points gives confidence 1 − 1/e ≈ 0.63 of the way up.
const MARGIN_SCALE: f64 = 2.0;
/// Without a title, cues alone never make the machine sure.
const NO_TITLE_CAP: f64 = 0.65;
/// A short heading that names the kind's typical subject (隔油池设施说明) is nearly a title.
const CUE_TITLE_WEIGHT: f64 = 2.0;
const CUE_TITLE_CAP: f64 = 0.9;
const CUE_TITLE_LINES: usize = 3;
const CUE_TITLE_MAX_CHARS: usize = 16;
const TITLE_CAP: f64 = 0.98;
/// A title with no cue word of the kind in the text: below the kind threshold, so a person looks.
const TITLE_ONLY_CAP: f64 = 0.6;
/// Endings that say what kind of paper, not what it is about.
const GENERIC_ENDINGS: [&str; 5] = ["情况说明", "说明", "材料", "情况", "记录"];
const MIN_CORE_CHARS: usize = 3;

struct KindCues {
    id: String,
    /// Full titles, longest first.
    titles: Vec<String>,
    /// Title cores, matched only in short headings.
    cores: Vec<String>,
    cues: Vec<String>,
}

pub struct KeywordClassifier {
    kinds: Vec<KindCues>,
}

impl KeywordClassifier {
    pub fn new(documents: &DocumentsFile) -> Self {
        let kinds = documents
            .kinds
            .iter()
            .map(|(id, spec)| {
                let mut titles: Vec<String> = spec.titles.iter().map(|t| compact(&halfwidth(t))).collect();
                // The core of a title without its generic ending also names the kind in a heading:
                // 预处理设施材料 → 预处理设施 (污水预处理设施情况), 隔油池说明 → 隔油池 (隔油池(器)安装情况说明).
                let cores: Vec<String> = titles
                    .iter()
                    .filter_map(|t| GENERIC_ENDINGS.iter().find_map(|e| t.strip_suffix(e)))
                    .filter(|core| core.chars().count() >= MIN_CORE_CHARS)
                    .map(str::to_string)
                    .collect();

                titles.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
                let cues = spec.cues.iter().map(|c| compact(&halfwidth(c))).collect();
                KindCues { id: id.clone(), titles, cores, cues }
            })
            .collect();
        Self { kinds }
    }

    /// The length of the longest title of a kind that a title-zone line presents as its title.
    fn title_match(titles: &[String], title_lines: &[String]) -> Option<usize> {
        titles
            .iter()
            .filter(|title| {
                let title_len = title.chars().count();
                title_lines.iter().any(|line| {
                    // A title stands alone, opens its line, or closes it (证照编号：… 营业执照).
                    line.starts_with(title.as_str())
                        || line.ends_with(title.as_str())
                        || (line.contains(title.as_str()) && line.chars().count() <= title_len + TITLE_LINE_SLACK_CHARS)
                })
            })
            .map(|t| t.chars().count())
            .max()
    }
}

impl DocumentClassifier for KeywordClassifier {
    fn classify(&self, lines: &[TextLine]) -> Classification {
        let title_lines: Vec<String> = lines.iter().take(TITLE_ZONE_LINES).map(|l| compact(&halfwidth(&l.text))).collect();
        // Cue words count in the body only: a heading's own words are the title's evidence, not more.
        let body = compact(&halfwidth(
            &lines
                .iter()
                .enumerate()
                .filter(|(idx, l)| !(*idx < CUE_TITLE_LINES && compact(&halfwidth(&l.text)).chars().count() <= CUE_TITLE_MAX_CHARS))
                .map(|(_, l)| l.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ));
        // A longer matching title is more specific: 排水许可告知承诺书 beats 承诺书 elsewhere.
        let title_lengths: Vec<Option<usize>> = self.kinds.iter().map(|k| Self::title_match(&k.titles, &title_lines)).collect();
        let longest_title = title_lengths.iter().flatten().max().copied();
        let headings: Vec<&String> =
            title_lines.iter().take(CUE_TITLE_LINES).filter(|l| l.chars().count() <= CUE_TITLE_MAX_CHARS).collect();
        let any_core =
            longest_title.is_none() && self.kinds.iter().any(|k| headings.iter().any(|h| k.cores.iter().any(|c| h.contains(c.as_str()))));
        let mut scored: Vec<(f64, f64, &str)> = self
            .kinds
            .iter()
            .zip(&title_lengths)
            .map(|(kind, title_len)| {
                let (id, cues) = (&kind.id, &kind.cues);
                let is_best_title = title_len.is_some() && *title_len == longest_title;
                // Only when no kind's title is present: a heading is then the best evidence left.
                // The strongest heading evidence present decides: a title core outranks a cue word.
                let core_heading = longest_title.is_none() && headings.iter().any(|h| kind.cores.iter().any(|c| h.contains(c.as_str())));
                let cue_heading =
                    longest_title.is_none() && !any_core && headings.iter().any(|h| cues.iter().any(|c| h.contains(c.as_str())));
                let (title, cap) = if is_best_title {
                    (TITLE_WEIGHT, TITLE_CAP)
                } else if title_len.is_some() {
                    (TITLE_WEIGHT / 2.0, CUE_TITLE_CAP)
                } else if core_heading {
                    (TITLE_WEIGHT, CUE_TITLE_CAP)
                } else if cue_heading {
                    (CUE_TITLE_WEIGHT, CUE_TITLE_CAP)
                } else {
                    (0.0, NO_TITLE_CAP)
                };
                let n_cues = cues.iter().filter(|c| body.contains(c.as_str())).count().min(MAX_CUES_COUNTED);
                // A title over an empty page is not the material: the body must say something too.
                let cap = if n_cues == 0 { cap.min(TITLE_ONLY_CAP) } else { cap };
                (title + CUE_WEIGHT * n_cues as f64, cap, id.as_str())
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(b.2)));
        let (best, cap, kind) = scored[0];
        // Documents share vocabulary (a pretreatment note talks about pipes and sewers), so a kind
        // that the heading does not name competes with half its cue score.
        let second = scored
            .iter()
            .skip(1)
            .map(|(score, other_cap, _)| if *other_cap > NO_TITLE_CAP || cap <= NO_TITLE_CAP { *score } else { score / 2.0 })
            .fold(0.0, f64::max);
        if best <= 0.0 {
            return Classification { kind: "unknown".into(), confidence: 0.0 };
        }
        let margin = best - second;
        let confidence = (cap * (1.0 - (-margin / MARGIN_SCALE).exp())).clamp(0.0, cap);
        Classification { kind: kind.to_string(), confidence: (confidence * 1000.0).round() / 1000.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn classify(texts: &[&str]) -> Classification {
        let rules = RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let lines: Vec<TextLine> = texts.iter().map(|t| TextLine::new(1, *t, 1.0)).collect();
        KeywordClassifier::new(&rules.documents).classify(&lines)
    }

    #[test]
    fn a_title_with_a_body_is_sure() {
        let c = classify(&["排水管网图及说明", "本单位内部排水实行雨污分流，污水经专用检测井接入市政污水管网，排放口管径DN300。"]);
        assert_eq!(c.kind, "drainage_plan");
        assert!(c.confidence > 0.9, "{c:?}");
    }

    /// Regression (review of 2026-11-28): a page that is only a title passed as the material.
    #[test]
    fn a_title_alone_is_not_enough() {
        let c = classify(&["排水管网图"]);
        assert_eq!(c.kind, "drainage_plan");
        assert!(c.confidence < 0.7, "{c:?}");
    }

    #[test]
    fn a_heading_that_names_the_subject_counts_and_body_vocabulary_alone_does_not() {
        let c = classify(&["隔油池（器）安装情况说明", "安装不锈钢台下隔油器一台，每日清理。"]);
        assert_eq!(c.kind, "pretreatment_docs");
        assert!(c.confidence >= 0.7, "{c:?}");
        let c = classify(&["本店污水经管网排入市政，雨水单独排放。"]);
        assert!(c.confidence < 0.7, "no title: {c:?}");
        assert_eq!(classify(&["hello world"]).kind, "unknown");
    }
}
