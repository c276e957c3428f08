//! Field readers: typed values with provenance and confidence, read from a document's text lines.
//!
//! Built for variation, not for one template: label synonyms from `rules/documents.toml`, letter-spaced
//! labels (名　　称), full- and half-width punctuation, values on the label's line or the next,
//! key-value lines, flattened tables and prose. A value that is ambiguous is returned with a low
//! confidence so the decision goes to a person; it is never guessed.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{json, Value};

use crate::domain::credit_code::CreditCode;
use crate::reading::TextLine;
use crate::rules::catalog::{DocumentsFile, FieldKind, KindSpec};

use super::normalize::{compact, find_dates, halfwidth};

mod by_meaning;
mod pollutants;
mod yearly;

pub use pollutants::{PollutantReader, ResultsRead};

/// A field read from a document. `path` is relative to the document's rule variable
/// (`name`, `pollutants.cod`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractedField {
    pub path: String,
    pub value: Value,
    pub confidence: f64,
    pub page: u32,
    pub line: String,
    /// How the value was read when that is not plain from the line, for the reviewer: a label
    /// read by meaning, a result below the detection limit, months summed from a per-year table.
    pub note: Option<String>,
}

impl ExtractedField {
    /// A value read from `line` (its page and text kept as provenance).
    pub fn from_line(path: impl Into<String>, value: Value, confidence: f64, line: &TextLine) -> Self {
        Self { path: path.into(), value, confidence, page: line.page, line: line.text.clone(), note: None }
    }
}

/// Something a reader saw in a document and could not read: a results row whose item it does not
/// know, or whose value it cannot parse. The document is then not fully read: a person reads the
/// row (domain.md §1.10), and no permit is issued without that.
#[derive(Debug, Clone, PartialEq)]
pub struct Unread {
    pub page: u32,
    /// The text as read, for the reviewer.
    pub text: String,
    /// Why it could not be read, in the reviewer's words.
    pub reason: &'static str,
}

impl Unread {
    fn row(line: &TextLine, text: &str, reason: &'static str) -> Self {
        Self { page: line.page, text: text.chars().take(MAX_TEXT_CHARS).collect(), reason }
    }
}

/// The label was followed by ：or :, the plainest key-value layout.
const CONF_LABEL_COLON: f64 = 0.97;
/// Label and value separated by spaces only (table cells flattened into a line).
const CONF_LABEL_SPACE: f64 = 0.94;
/// The value stood on the line after its label (label row / value row tables).
const CONF_NEXT_LINE: f64 = 0.92;
/// A date in a sentence that names what it is the date of, without a label.
const CONF_PROSE_DATE: f64 = 0.93;
/// A value in a sentence that says what it is (受某某公司委托).
const CONF_PROSE: f64 = 0.93;
/// A value under a label no list holds, read as the field the label means (`understanding::meaning`):
/// the label's reading can be wrong (cross-fitted by `onewindow fit-labels`, 4 of 48 labels it
/// accepted meant another field), so such a value stays below every threshold a rule set uses
/// (fields 0.9, the category from a business scope 0.8) however plainly it is laid out
/// (0.97 × 0.8 = 0.78): it is shown to the person with how it was read, and the rules that need it
/// are checked on it, but it never issues alone.
const CONF_BY_MEANING: f64 = 0.8;
/// A credit code whose check character is right: a misreading passes that check 1 time in 31.
const CONF_VALID_CODE: f64 = 0.96;
/// The same field read with different values in one document.
const CONF_CONFLICT: f64 = 0.5;
/// A credit code found without its label, unique and with a valid check character.
const CONF_UNLABELLED_CODE: f64 = 0.90;
/// A result row where the column holding the result is clear (a header, or a single number).
const CONF_RESULT_CLEAR: f64 = 0.95;
/// A result row with several numbers and no header saying which is the result.
const CONF_RESULT_AMBIGUOUS: f64 = 0.6;
const MAX_TEXT_CHARS: usize = 300;
const MAX_MULTILINE_LINES: usize = 8;

/// Characters after which a label may start a new key-value segment.
fn is_segment_boundary(c: char) -> bool {
    c.is_whitespace() || matches!(c, '|' | ':' | ';' | ',' | '.' | ')' | ']' | '、' | '，' | '；' | '。')
}

fn is_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c) || ('\u{3400}'..='\u{4DBF}').contains(&c)
}

fn label_regex(label: &str) -> Regex {
    let pattern: Vec<String> = halfwidth(label).chars().map(|c| regex::escape(&c.to_string())).collect();
    Regex::new(&pattern.join(r"\s*")).expect("escaped label is a valid pattern")
}

struct Label {
    field: String,
    regex: Regex,
    n_chars: usize,
}

/// A label occurrence in one line: which field, and the byte span.
#[derive(Debug, Clone)]
struct LabelHit {
    field: String,
    start: usize,
    end: usize,
}

pub struct KindReader {
    labels: Vec<Label>,
    fields: BTreeMap<String, (FieldKind, bool)>,
    /// Date fields and the two-character stems of their labels (采样, 取样, 报告 …).
    date_stems: BTreeMap<String, Vec<String>>,
    /// See `KindSpec::glued_values`.
    glued_values: bool,
    /// Sentences that carry a field (`FieldSpec::prose`), as patterns capturing the value.
    prose: Vec<(String, FieldKind, Regex)>,
    /// See `DocumentsFile::label_heads`.
    label_heads: Vec<String>,
    /// Fields read from a letterhead (`FieldSpec::letterhead`), and the titles that end it.
    letterhead: Vec<String>,
    titles: Vec<String>,
    /// Month-count fields and their labels (half-width), for per-year tables (`yearly.rs`).
    month_labels: Vec<(String, Vec<String>)>,
}

/// A cell shaped like a label: two to six Han characters ending in a label's head noun (a
/// one-character head such as 人 only after two more: 联系人, not a name ending in 人).
fn label_shaped(cell: &str, heads: &[String]) -> bool {
    let n = cell.chars().count();
    (2..=6).contains(&n)
        && cell.chars().all(is_han)
        && heads.iter().any(|h| cell.ends_with(h.as_str()) && (h.chars().count() >= 2 || n >= 3))
}

/// A line that is an organisation's name and nothing else: Han characters (and brackets), no
/// digits, no spaces inside.
fn organisation_line(text: &str) -> bool {
    let text = text.trim();
    let n = text.chars().count();
    (4..=40).contains(&n) && text.chars().all(|c| is_han(c) || matches!(c, '(' | ')')) && text.chars().filter(|c| is_han(*c)).count() >= 4
}

impl KindReader {
    /// `documents.other_labels` only end values; they are never read.
    pub fn new(spec: &KindSpec, documents: &DocumentsFile) -> Self {
        let other_labels = &documents.other_labels;
        let mut labels: Vec<Label> = spec
            .fields
            .iter()
            .flat_map(|(field, f)| {
                f.labels.iter().map(move |l| Label { field: field.clone(), regex: label_regex(l), n_chars: l.chars().count() })
            })
            .collect();
        let own: Vec<String> = spec.fields.values().flat_map(|f| f.labels.iter().cloned()).collect();
        labels.extend(other_labels.iter().filter(|l| !own.contains(l)).map(|l| Label {
            field: String::new(),
            regex: label_regex(l),
            n_chars: l.chars().count(),
        }));
        // Longest first, so 市场主体名称 claims its characters before 名称 can.
        labels.sort_by_key(|l| std::cmp::Reverse(l.n_chars));
        let fields = spec.fields.iter().map(|(k, f)| (k.clone(), (f.kind, f.multiline))).collect();
        let date_stems = spec
            .fields
            .iter()
            .filter(|(_, f)| f.kind == FieldKind::Date)
            .map(|(name, f)| {
                // The label without its 日期/时间: 采样日期 → 采样, 样品采集日期 → 样品采集 (not 样品,
                // which a sentence about the analysis also names).
                let mut stems: Vec<String> = f
                    .labels
                    .iter()
                    .map(|l| {
                        let stem = l.trim_end_matches("及时间").trim_end_matches("日期").trim_end_matches("时间");
                        if stem.chars().count() >= 2 {
                            stem.to_string()
                        } else {
                            l.chars().take(2).collect()
                        }
                    })
                    .collect();
                stems.sort();
                stems.dedup();
                (name.clone(), stems)
            })
            .collect();
        let prose = spec
            .fields
            .iter()
            .flat_map(|(name, f)| {
                f.prose.iter().filter_map(move |p| {
                    let (before, after) = p.split_once("{}")?;
                    // Nothing before the value: it opens its clause ("某公司委托我单位…").
                    let before = if before.is_empty() { r"(?:^|[,;。])\s*".to_string() } else { regex::escape(&halfwidth(before)) };
                    let pattern = format!("{before}(.{{2,60}}?){}", regex::escape(&halfwidth(after)));
                    Some((name.clone(), f.kind, Regex::new(&pattern).expect("escaped prose pattern")))
                })
            })
            .collect();
        let letterhead = spec.fields.iter().filter(|(_, f)| f.letterhead).map(|(name, _)| name.clone()).collect();
        let titles = spec.titles.iter().map(|t| compact(&halfwidth(t))).collect();
        let month_labels = spec
            .fields
            .iter()
            .filter(|(_, f)| f.kind == FieldKind::Months)
            .map(|(name, f)| (name.clone(), f.labels.iter().map(|l| halfwidth(l)).collect()))
            .collect();
        Self {
            labels,
            fields,
            date_stems,
            glued_values: spec.glued_values,
            prose,
            label_heads: documents.label_heads.clone(),
            letterhead,
            titles,
            month_labels,
        }
    }

    /// Where the next pair on a row starts inside a value ("无锡某公司 项目地址 无锡市…"): at a
    /// label-shaped cell after the value's first cell, with a cell after it.
    fn next_pair(&self, text: &str, from: usize, to: usize) -> Option<usize> {
        let cells: Vec<(usize, &str)> =
            text[from..to].split_whitespace().map(|c| (c.as_ptr() as usize - text.as_ptr() as usize, c)).collect();
        cells
            .iter()
            .enumerate()
            .skip(1)
            .find(|(i, (_, c))| *i + 1 < cells.len() && label_shaped(c.trim_end_matches(':'), &self.label_heads))
            .map(|(_, (at, _))| *at)
    }

    /// The organisation a document's letterhead names: the one line above its title that is an
    /// organisation's name alone ("常州中衡检测科技有限公司" over "检测报告书").
    fn read_letterhead(&self, normalized: &[String], lines: &[TextLine], found: &mut BTreeMap<String, ExtractedField>) {
        let Some(title) = normalized.iter().take(12).position(|l| self.titles.iter().any(|t| compact(l).contains(t.as_str()))) else {
            return;
        };
        let candidates: Vec<usize> =
            (0..title).filter(|i| organisation_line(&normalized[*i]) && self.hits(&normalized[*i]).is_empty()).collect();
        let [idx] = candidates.as_slice() else { return };
        for field in &self.letterhead {
            if found.contains_key(field) {
                continue;
            }
            let line = &lines[*idx];
            let value = json!(normalized[*idx].trim());
            found.insert(field.clone(), ExtractedField::from_line(field.clone(), value, CONF_PROSE * line.confidence, line));
        }
    }

    /// Label occurrences that start a segment, in order, without overlaps.
    fn hits(&self, line: &str) -> Vec<LabelHit> {
        let mut hits: Vec<LabelHit> = Vec::new();
        for label in &self.labels {
            for m in label.regex.find_iter(line) {
                let starts_segment = line[..m.start()].chars().next_back().is_none_or(is_segment_boundary);
                // 委托方 is a label; 委托方地址 is another one, not 委托方 followed by its value.
                let ends_label = line[m.end()..].chars().next().is_none_or(|c| !is_han(c));
                if !ends_label && !self.glued_values {
                    continue;
                }
                let overlaps = hits.iter().any(|h| h.start < m.end() && m.start() < h.end);
                if starts_segment && !overlaps {
                    hits.push(LabelHit { field: label.field.clone(), start: m.start(), end: m.end() });
                }
            }
        }
        hits.sort_by_key(|h| h.start);
        hits
    }

    /// Narrow table cells wrap labels over two lines (统一社会信 / 用代码 9232…, 注册日 / 期 2024…):
    /// a label fragment at the end of a line is moved to the start of the next.
    fn join_split_labels(&self, normalized: &mut [String]) {
        for idx in 0..normalized.len().saturating_sub(1) {
            let line = normalized[idx].trim_end().to_string();
            // A char boundary even when the last space is a multi-byte one (U+2003).
            let tail_start = line.char_indices().rfind(|(_, c)| c.is_whitespace()).map(|(i, c)| i + c.len_utf8()).unwrap_or(0);
            let tail = &line[tail_start..];
            if tail.chars().count() < 2 || tail.chars().any(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            let next = normalized[idx + 1].trim_start().to_string();
            let joined = self.labels.iter().any(|label| {
                let text = label.regex.as_str().replace(r"\s*", "");
                text.len() > tail.len()
                    && text.starts_with(tail)
                    && next.starts_with(&text[tail.len()..])
                    && !self.labels.iter().any(|l| l.regex.as_str().replace(r"\s*", "") == tail)
            });
            if joined {
                normalized[idx] = line[..tail_start].trim_end().to_string();
                normalized[idx + 1] = format!("{tail}{next}");
            }
        }
    }

    /// Sentences that carry a field: "受某某公司委托，…". A value found twice differently is doubtful.
    fn read_prose(&self, normalized: &[String], lines: &[TextLine], found: &mut BTreeMap<String, ExtractedField>) {
        for (field, kind, pattern) in &self.prose {
            if found.contains_key(field) {
                continue;
            }
            for (idx, text) in normalized.iter().enumerate() {
                let Some(caps) = pattern.captures(text) else { continue };
                let Some(typed) = typed_value(*kind, &caps[1]) else { continue };
                let line = &lines[idx];
                let confidence = CONF_PROSE * line.confidence_in(text, caps.get(1).map_or(0..0, |m| m.range()));
                merge(found, ExtractedField::from_line(field.clone(), typed, confidence, line));
            }
        }
    }

    /// Prose: "于二〇二六年十月十二日…进行了采样" names no label, but a line with the label's stem
    /// and one date says it.
    fn read_prose_dates(&self, normalized: &[String], lines: &[TextLine], found: &mut BTreeMap<String, ExtractedField>) {
        for (field, stems) in &self.date_stems {
            if found.contains_key(field) {
                continue;
            }
            // The date in the clause that names the stem ("于2026年8月19日…进行了采样"), not one in
            // the next clause ("采样，并于9月28日完成分析"); only when no clause has both, a date
            // whose clause ends its line and wraps onto the next line's clause with the stem.
            let clauses = |text: &str| text.split([',', ';', '。', '，', '；']).map(str::to_string).collect::<Vec<String>>();
            let has_stem = |clause: &str| stems.iter().any(|s| clause.contains(s.as_str()));
            let one_date = |clause: &str| match find_dates(clause).as_slice() {
                [date] => Some(date.format("%Y-%m-%d").to_string()),
                _ => None,
            };
            let dated = |wrapped: bool| -> Vec<(usize, String)> {
                let mut out = Vec::new();
                for (idx, text) in normalized.iter().enumerate() {
                    let own = clauses(text);
                    if !wrapped {
                        out.extend(own.iter().filter(|c| has_stem(c)).filter_map(|c| one_date(c)).map(|d| (idx, d)));
                        continue;
                    }
                    let next_first = normalized.get(idx + 1).map(|n| clauses(n).swap_remove(0)).unwrap_or_default();
                    let last = own.last().map(String::as_str).unwrap_or_default();
                    if !has_stem(last) && has_stem(&next_first) {
                        out.extend(one_date(last).map(|d| (idx, d)));
                    }
                }
                out
            };
            let mut candidates = dated(false);
            if candidates.is_empty() {
                candidates = dated(true);
            }
            if let Some((idx, date)) = candidates.first() {
                let line = &lines[*idx];
                let distinct = candidates.iter().all(|(_, d)| d == date);
                let confidence = if distinct { CONF_PROSE_DATE } else { CONF_CONFLICT } * line.confidence;
                found.insert(field.clone(), ExtractedField::from_line(field.clone(), json!(date), confidence, line));
            }
        }
    }

    pub fn read(&self, lines: &[TextLine]) -> Vec<ExtractedField> {
        self.read_with(lines, None)
    }

    /// `read`, and with `field_of` also the labels no list holds, by meaning.
    pub fn read_with(&self, lines: &[TextLine], field_of: Option<super::meaning::FieldOf<'_>>) -> Vec<ExtractedField> {
        let mut normalized: Vec<String> = lines.iter().map(|l| halfwidth(&l.text)).collect();
        self.join_split_labels(&mut normalized);
        let all_hits: Vec<Vec<LabelHit>> = normalized.iter().map(|l| self.hits(l)).collect();
        let mut found: BTreeMap<String, ExtractedField> = BTreeMap::new();
        for (line_idx, hits) in all_hits.iter().enumerate() {
            let text = &normalized[line_idx];
            if let Some(values) = label_row_values(text, hits, &normalized, &all_hits, line_idx) {
                // A table whose header row holds only labels and whose next row holds one value each.
                for (hit, value) in hits.iter().zip(values) {
                    let Some(&(kind, _)) = self.fields.get(&hit.field) else { continue };
                    let Some(typed) = typed_value(kind, &value) else { continue };
                    let line = &lines[line_idx + 1];
                    let confidence = CONF_NEXT_LINE * line.confidence;
                    merge(&mut found, ExtractedField::from_line(hit.field.clone(), typed, confidence, line));
                }
                continue;
            }
            for (hit_idx, hit) in hits.iter().enumerate() {
                let Some(&(kind, multiline)) = self.fields.get(&hit.field) else { continue };
                let next_label = hits.get(hit_idx + 1).map(|h| h.start).unwrap_or(text.len());
                // Any other "标签：" after a space ends the value too, named in documents.toml or not.
                let segment_end = GENERIC_LABEL.find(&text[hit.end..next_label]).map(|m| hit.end + m.start()).unwrap_or(next_label);
                let segment_end = self.next_pair(text, hit.end, segment_end).unwrap_or(segment_end);
                let raw = &text[hit.end..segment_end];
                let has_colon = raw.trim_start().starts_with(':');
                let mut value = raw.trim_start().trim_start_matches(':').trim().to_string();
                let mut confidence = if has_colon { CONF_LABEL_COLON } else { CONF_LABEL_SPACE };
                // How sure the reader was of the characters the value came from.
                let mut read_confidence = lines[line_idx].confidence_in(text, hit.start..segment_end);
                let mut next = line_idx + 1;
                if value.is_empty() && hit_idx + 1 == hits.len() {
                    // Label row, value row: take the next line unless it is itself a label line.
                    if let Some(next_line) = normalized.get(next).filter(|_| all_hits[next].first().is_none_or(|h| h.start > 0)) {
                        value = next_line.trim().to_string();
                        confidence = CONF_NEXT_LINE;
                        read_confidence = read_confidence.min(lines[next].confidence);
                        next += 1;
                    }
                }
                if multiline && hit_idx + 1 == hits.len() {
                    // A long value (经营范围) wraps onto following lines until the next label.
                    for (extra, extra_line) in normalized.iter().zip(lines).skip(next).take(MAX_MULTILINE_LINES) {
                        if self.hits(extra).first().is_some_and(|h| h.start == 0) {
                            break;
                        }
                        value.push_str(extra.trim());
                        read_confidence = read_confidence.min(extra_line.confidence);
                    }
                }
                let Some(typed) = typed_value(kind, &value) else { continue };
                let line = &lines[line_idx];
                if kind == FieldKind::CreditCode {
                    if typed.as_str().is_some_and(|c| CreditCode::parse(c).is_ok()) {
                        confidence = confidence.max(CONF_VALID_CODE);
                    } else if !line.pieces.is_empty() {
                        // Read by OCR, a code that fails its check character was far more likely
                        // misread (one glyph of eighteen) than issued wrong: a person compares it
                        // with the image. From a text layer the failure is a finding of fact.
                        confidence = confidence.min(CONF_CONFLICT);
                    }
                }
                merge(&mut found, ExtractedField::from_line(hit.field.clone(), typed, confidence * read_confidence, line));
            }
        }
        let by_label: Vec<String> = found.keys().cloned().collect();
        self.read_prose(&normalized, lines, &mut found);
        self.read_prose_dates(&normalized, lines, &mut found);
        self.read_letterhead(&normalized, lines, &mut found);
        if let Some(field_of) = field_of {
            self.read_by_meaning(&normalized, &all_hits, lines, &by_label, field_of, &mut found);
        }
        // A per-year table gives the months when nothing else did; beside a printed total that
        // says otherwise, the total is doubtful.
        for (field, labels) in &self.month_labels {
            let Some(sum) = yearly::months_from_yearly_table(field, labels, lines) else { continue };
            match found.get_mut(field) {
                None => {
                    found.insert(field.clone(), sum);
                }
                Some(total) if total.value != sum.value => total.confidence = total.confidence.min(CONF_CONFLICT),
                Some(_) => {}
            }
        }
        if self.fields.get("credit_code").is_some_and(|(k, _)| *k == FieldKind::CreditCode) && !found.contains_key("credit_code") {
            if let Some(field) = unlabelled_credit_code(lines) {
                found.insert(field.path.clone(), field);
            }
        }
        found.into_values().collect()
    }
}

/// When `text` is nothing but two or more labels and the next line holds exactly as many
/// space-separated values and no label, the values of that row, in order.
fn label_row_values(
    text: &str,
    hits: &[LabelHit],
    normalized: &[String],
    all_hits: &[Vec<LabelHit>],
    line_idx: usize,
) -> Option<Vec<String>> {
    if hits.len() < 2 {
        return None;
    }
    let mut rest = String::new();
    let mut at = 0;
    for hit in hits {
        rest.push_str(&text[at..hit.start]);
        at = hit.end;
    }
    rest.push_str(&text[at..]);
    if rest.chars().any(|c| !(c.is_whitespace() || matches!(c, ':' | '|'))) {
        return None;
    }
    let next = normalized.get(line_idx + 1)?;
    if !all_hits.get(line_idx + 1)?.is_empty() {
        return None;
    }
    let values: Vec<String> = next.split(|c: char| c.is_whitespace() || c == '|').filter(|v| !v.is_empty()).map(str::to_string).collect();
    (values.len() == hits.len()).then_some(values)
}

/// Keeps the first reading of a field; a different second reading makes it a conflict.
fn merge(found: &mut BTreeMap<String, ExtractedField>, candidate: ExtractedField) {
    match found.get_mut(&candidate.path) {
        None => {
            found.insert(candidate.path.clone(), candidate);
        }
        Some(existing) if existing.value == candidate.value => {
            existing.confidence = existing.confidence.max(candidate.confidence);
        }
        Some(existing) => existing.confidence = existing.confidence.min(CONF_CONFLICT),
    }
}

static SEAL_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*[(\[]\s*(?:盖章|公章|签章|章|签字)\s*[)\]]\s*|\s*[(\[]?\s*(?:盖章|公章|签章|章|签字)\s*[)\]]?\s*$").unwrap()
});

static GENERIC_LABEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s\p{Han}{2,6}\s*:").unwrap());

static CODE_TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|[^0-9A-Z])([0-9A-Z]{18})(?:[^0-9A-Z]|$)").unwrap());

fn typed_value(kind: FieldKind, value: &str) -> Option<Value> {
    let value = value.trim().trim_end_matches(['。', ',', ';', '，', '；']).trim();
    if value.is_empty() {
        return None;
    }
    match kind {
        FieldKind::Text => {
            // A seal placeholder after a name (委托单位：某公司（盖章）) is not part of the name.
            let value = SEAL_SUFFIX.replace_all(value, "");
            let value = value.trim_matches(|c: char| c.is_whitespace() || matches!(c, ':' | ';' | ',' | '.' | '、'));
            let text: String = value.chars().take(MAX_TEXT_CHARS * 4).collect();
            // A seal placeholder or stray punctuation is no value at all.
            text.chars().any(|c| c.is_alphanumeric()).then(|| json!(text))
        }
        FieldKind::Address => {
            typed_value(FieldKind::Text, value).filter(|v| v.as_str().is_some_and(crate::domain::address::looks_like_address))
        }
        FieldKind::Date => find_dates(value).first().map(|d| json!(d.format("%Y-%m-%d").to_string())),
        FieldKind::Months => {
            let value = halfwidth(value);
            if let Some(c) = YEARS_MONTHS.captures(&value) {
                let years: f64 = c[1].parse().ok()?;
                let months: f64 = c.get(2).map_or(Some(0.0), |m| m.as_str().parse().ok())?;
                (months < 12.0).then_some(json!(years * 12.0 + months))
            } else {
                // A bare count, alone or before 个月/月: "426个月", "426".
                let c = MONTH_COUNT.captures(&value)?;
                c[1].parse::<f64>().ok().map(|m| json!(m))
            }
        }
        FieldKind::ValidityEnd => {
            let dates = find_dates(value);
            if value.contains("长期") && dates.len() <= 1 {
                Some(json!("long_term"))
            } else if let [from, until] = dates.as_slice() {
                // One date alone says nothing about the end; a period ends after it starts.
                (until > from).then(|| json!(until.format("%Y-%m-%d").to_string()))
            } else {
                None
            }
        }
        FieldKind::CreditCode => {
            let upper = value.to_ascii_uppercase().replace(' ', "");
            CODE_TOKEN.captures(&upper).map(|c| json!(c[1].to_string()))
        }
    }
}

static YEARS_MONTHS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*(\d{1,2})\s*年(?:\s*(\d{1,2})\s*个?月)?").expect("valid pattern"));
static MONTH_COUNT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*(\d{1,3})\s*(?:个月|月)?(?:\s|$|[,;。(])").expect("valid pattern"));

fn unlabelled_credit_code(lines: &[TextLine]) -> Option<ExtractedField> {
    let mut candidates: Vec<(String, &TextLine)> = Vec::new();
    for line in lines {
        let upper = halfwidth(&line.text).to_ascii_uppercase();
        for caps in CODE_TOKEN.captures_iter(&upper) {
            if CreditCode::parse(&caps[1]).is_ok() && !candidates.iter().any(|(c, _)| c == &caps[1]) {
                candidates.push((caps[1].to_string(), line));
            }
        }
    }
    match candidates.as_slice() {
        [(code, line)] => {
            Some(ExtractedField::from_line("credit_code", json!(code), CONF_UNLABELLED_CODE.max(CONF_VALID_CODE) * line.confidence, line))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
