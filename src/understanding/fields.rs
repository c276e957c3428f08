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
use crate::rules::catalog::{FieldKind, KindSpec, WaterStandard};

use super::normalize::{find_dates, find_unit, halfwidth, measured_values, Unit};

/// A field read from a document. `path` is relative to the document's rule variable
/// (`name`, `pollutants.cod`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractedField {
    pub path: String,
    pub value: Value,
    pub confidence: f64,
    pub page: u32,
    pub line: String,
}

/// The label was followed by ：or :, the plainest key-value layout.
const CONF_LABEL_COLON: f64 = 0.97;
/// Label and value separated by spaces only (table cells flattened into a line).
const CONF_LABEL_SPACE: f64 = 0.94;
/// The value stood on the line after its label (label row / value row tables).
const CONF_NEXT_LINE: f64 = 0.92;
/// A date in a sentence that names what it is the date of, without a label.
const CONF_PROSE_DATE: f64 = 0.93;
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
}

impl KindReader {
    /// `other_labels` only end values; they are never read.
    pub fn new(spec: &KindSpec, other_labels: &[String]) -> Self {
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
                let mut stems: Vec<String> = f.labels.iter().map(|l| l.chars().take(2).collect()).collect();
                stems.sort();
                stems.dedup();
                (name.clone(), stems)
            })
            .collect();
        Self { labels, fields, date_stems, glued_values: spec.glued_values }
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

    pub fn read(&self, lines: &[TextLine]) -> Vec<ExtractedField> {
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
                    merge(
                        &mut found,
                        ExtractedField { path: hit.field.clone(), value: typed, confidence, page: line.page, line: line.text.clone() },
                    );
                }
                continue;
            }
            for (hit_idx, hit) in hits.iter().enumerate() {
                let Some(&(kind, multiline)) = self.fields.get(&hit.field) else { continue };
                let next_label = hits.get(hit_idx + 1).map(|h| h.start).unwrap_or(text.len());
                // Any other "标签：" after a space ends the value too, named in documents.toml or not.
                let segment_end = GENERIC_LABEL.find(&text[hit.end..next_label]).map(|m| hit.end + m.start()).unwrap_or(next_label);
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
                if kind == FieldKind::CreditCode && typed.as_str().is_some_and(|c| CreditCode::parse(c).is_ok()) {
                    confidence = confidence.max(CONF_VALID_CODE);
                }
                let line = &lines[line_idx];
                let candidate = ExtractedField {
                    path: hit.field.clone(),
                    value: typed,
                    confidence: confidence * read_confidence,
                    page: line.page,
                    line: line.text.clone(),
                };
                merge(&mut found, candidate);
            }
        }
        // Prose: "于二〇二六年十月十二日…进行了采样" names no label, but a line with the label's stem
        // and one date says it.
        for (field, stems) in &self.date_stems {
            if found.contains_key(field) {
                continue;
            }
            // The sentence may wrap: the stem can stand on the line after the date.
            let candidates: Vec<(usize, String)> = normalized
                .iter()
                .enumerate()
                .filter(|(idx, text)| {
                    let next = normalized.get(idx + 1).map(String::as_str).unwrap_or_default();
                    stems.iter().any(|s| text.contains(s.as_str()) || next.contains(s.as_str()))
                })
                .filter_map(|(idx, text)| match find_dates(text).as_slice() {
                    [date] => Some((idx, date.format("%Y-%m-%d").to_string())),
                    _ => None,
                })
                .collect();
            if let Some((idx, date)) = candidates.first() {
                let line = &lines[*idx];
                let distinct = candidates.iter().all(|(_, d)| d == date);
                let confidence = if distinct { CONF_PROSE_DATE } else { CONF_CONFLICT } * line.confidence;
                found.insert(
                    field.clone(),
                    ExtractedField { path: field.clone(), value: json!(date), confidence, page: line.page, line: line.text.clone() },
                );
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
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").expect("valid pattern"));

/// How sure the reader was of a result: of the item's name and of the cell the number was read
/// from (not of the row's serial number or its limit column). When the number does not stand in
/// the text as read (a unit was converted), of the whole segment.
fn value_read_confidence(line: &TextLine, text: &str, name: std::ops::Range<usize>, segment: std::ops::Range<usize>, value: f64) -> f64 {
    let name_confidence = line.confidence_in(text, name.clone());
    let cell = NUMBER
        .find_iter(&text[segment.clone()])
        .find(|m| m.as_str().parse::<f64>().is_ok_and(|v| (v - value).abs() < 1e-9))
        .map(|m| line.confidence_in(text, segment.start + m.start()..segment.start + m.end()));
    match cell {
        Some(cell) => name_confidence.min(cell),
        None => line.confidence_in(text, name.start..segment.end),
    }
}

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
        [(code, line)] => Some(ExtractedField {
            path: "credit_code".into(),
            value: json!(code),
            confidence: CONF_UNLABELLED_CODE.max(CONF_VALID_CODE) * line.confidence,
            page: line.page,
            line: line.text.clone(),
        }),
        _ => None,
    }
}

// ---- water-quality results ----

static RESULT_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"检测结果|监测结果|测定结果|分析结果|实测值|检测值|测定值|监测值|结果").unwrap());
static LIMIT_HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"标准限值|排放限值|限值|标准值|最高允许|允许排放浓度").unwrap());
static DETECTION_HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"检出限").unwrap());
static OTHER_HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"项目|单位|序号|判定|评价|方法").unwrap());
/// Method and standard numbers carry digits that are not results: HJ 828-2017, GB/T 11914-1989.
static STANDARD_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:GB|HJ|CJ|DB\d*)\s*/?\s*T?\s*\d+(?:\.\d+)*\s*-\s*\d{4}|\(以[A-Za-z0-9]+计\)|以[A-Za-z0-9]+计").unwrap()
});
/// Inline limits in prose: "化学需氧量236mg/L，标准限值500mg/L".
static INLINE_LIMIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"限值|标准值|标准为|不超过|允许").unwrap());

/// A sampling-point column of a results table: W1, W2, WS-01, 1#, 点位1 …
static POINT_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:WS-?\d{1,2}|W\d{1,2}|S\d{1,2}|\d{1,2}#|点位\d{1,2}|[一二三四]号点)$").unwrap());

/// Byte offsets of the whitespace-separated header cells that name sampling points.
fn point_columns(line: &str) -> Vec<usize> {
    // Offsets from the cells' own positions, so multi-byte spaces cannot skew them.
    line.split(char::is_whitespace)
        .filter(|cell| POINT_HEADER.is_match(cell))
        .map(|cell| cell.as_ptr() as usize - line.as_ptr() as usize)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Result,
    Limit,
    Detection,
}

/// The numeric columns of a results table, in order, as its header names them.
#[derive(Debug, Clone)]
struct ResultsHeader {
    columns: Vec<Column>,
    unit: Option<Unit>,
}

fn parse_header(line: &str) -> Option<ResultsHeader> {
    let mut columns: Vec<(usize, Column)> = Vec::new();
    columns.extend(point_columns(line).into_iter().map(|at| (at, Column::Result)));
    if columns.is_empty() {
        columns.extend(RESULT_HEADER.find(line).map(|m| (m.start(), Column::Result)));
    }
    if columns.is_empty() || !(LIMIT_HEADER.is_match(line) || DETECTION_HEADER.is_match(line) || OTHER_HEADER.is_match(line)) {
        return None;
    }
    columns.extend(LIMIT_HEADER.find(line).map(|m| (m.start(), Column::Limit)));
    columns.extend(DETECTION_HEADER.find(line).map(|m| (m.start(), Column::Detection)));
    columns.sort_by_key(|(at, _)| *at);
    Some(ResultsHeader { columns: columns.into_iter().map(|(_, c)| c).collect(), unit: find_unit(line).map(|(u, _)| u) })
}

/// Of several sampling points, the reading that is worst for the limit: the highest, or for pH the
/// one furthest from the middle of its range.
fn worst(item: &str, values: &[f64]) -> Option<f64> {
    if item == "ph" {
        values.iter().copied().max_by(|a, b| (a - 8.0).abs().total_cmp(&(b - 8.0).abs()))
    } else {
        values.iter().copied().max_by(f64::total_cmp)
    }
}

struct Alias {
    item: String,
    regex: Regex,
    ascii: bool,
    n_chars: usize,
}

pub struct PollutantReader {
    aliases: Vec<Alias>,
    units: BTreeMap<String, String>,
}

impl PollutantReader {
    pub fn new(water: &WaterStandard) -> Self {
        let mut aliases: Vec<Alias> = water
            .items
            .iter()
            .flat_map(|(item, spec)| {
                spec.aliases.iter().map(move |a| {
                    let ascii = a.is_ascii();
                    let pattern = if ascii { format!("(?i){}", regex::escape(a)) } else { regex::escape(a) };
                    Alias { item: item.clone(), regex: Regex::new(&pattern).expect("escaped"), ascii, n_chars: a.chars().count() }
                })
            })
            .collect();
        aliases.sort_by_key(|a| std::cmp::Reverse(a.n_chars));
        let units = water.items.iter().map(|(k, v)| (k.clone(), v.unit.clone())).collect();
        Self { aliases, units }
    }

    /// Item mentions in a line, in order: (item, alias start, alias end).
    fn mentions(&self, line: &str) -> Vec<(String, usize, usize)> {
        let mut out: Vec<(String, usize, usize)> = Vec::new();
        for alias in &self.aliases {
            for m in alias.regex.find_iter(line) {
                if alias.ascii {
                    // COD must not match inside CODMn or a word such as CODE.
                    let before = line[..m.start()].chars().next_back();
                    let after = line[m.end()..].chars().next();
                    if before.is_some_and(|c| c.is_ascii_alphanumeric()) || after.is_some_and(|c| c.is_ascii_alphabetic()) {
                        continue;
                    }
                }
                if !out.iter().any(|(_, s, e)| *s < m.end() && m.start() < *e) {
                    out.push((alias.item.clone(), m.start(), m.end()));
                }
            }
        }
        out.sort_by_key(|(_, s, _)| *s);
        // An item named twice in a row (化学需氧量(COD)) is one mention.
        out.dedup_by(|b, a| a.0 == b.0);
        out
    }

    pub fn read(&self, lines: &[TextLine]) -> Vec<ExtractedField> {
        let mut header: Option<ResultsHeader> = None;
        let mut found: BTreeMap<String, ExtractedField> = BTreeMap::new();
        let normalized: Vec<String> = lines.iter().map(|l| halfwidth(&l.text)).collect();
        for (line_idx, line) in lines.iter().enumerate() {
            let text = &normalized[line_idx];
            let mentions = self.mentions(text);
            let has_digits = text.chars().any(|c| c.is_ascii_digit());
            if mentions.is_empty() || (mentions.len() > 3 && !has_digits) {
                // A header row, or a list of items ("pH、COD、氨氮……均达标") rather than results.
                if let Some(h) = parse_header(text) {
                    header = Some(h);
                }
                continue;
            }
            // After "限值"/"标准" on a line, item names introduce limits, not results:
            // "…满足B级标准限值要求（化学需氧量500毫克/升、…）".
            let limits_from = INLINE_LIMIT.find(text).map(|m| m.start()).unwrap_or(usize::MAX);
            for (idx, (item, mention_start, alias_end)) in mentions.iter().enumerate() {
                if *mention_start > limits_from {
                    continue;
                }
                let segment_end = mentions.get(idx + 1).map(|m| m.1).unwrap_or(text.len());
                let segment = &text[*alias_end..segment_end];
                let mut reading = self.read_segment(item, segment, header.as_ref());
                if reading.is_none() && mentions.len() == 1 {
                    // A wrapped cell (a long method name) pushes the numbers onto the next line.
                    if let Some(next) = normalized.get(line_idx + 1).filter(|n| self.mentions(n).is_empty() && parse_header(n).is_none()) {
                        reading = self.read_segment(item, &format!("{segment} {next}"), header.as_ref());
                    }
                }
                let Some((value, confidence)) = reading else { continue };
                let path = format!("pollutants.{item}");
                let candidate = ExtractedField {
                    path: path.clone(),
                    value: json!(value),
                    confidence: confidence * value_read_confidence(line, text, *mention_start..*alias_end, *alias_end..segment_end, value),
                    page: line.page,
                    line: line.text.clone(),
                };
                match found.get_mut(&path) {
                    None => {
                        found.insert(path, candidate);
                    }
                    Some(existing) if existing.value == candidate.value => {}
                    // Two readings (several sampling points, or a limit taken for a result): keep the
                    // worse value so a limit rule still fails, and let a person look.
                    Some(existing) if item == "ph" => existing.confidence = existing.confidence.min(CONF_CONFLICT),
                    Some(existing) => {
                        if candidate.value.as_f64() > existing.value.as_f64() {
                            *existing = ExtractedField { confidence: CONF_CONFLICT, ..candidate };
                        } else {
                            existing.confidence = CONF_CONFLICT;
                        }
                    }
                }
            }
        }
        found.into_values().collect()
    }

    fn read_segment(&self, item: &str, segment: &str, header: Option<&ResultsHeader>) -> Option<(f64, f64)> {
        let mut segment = STANDARD_NUMBER.replace_all(segment, " ").to_string();
        // Other aliases of the same item (化学需氧量(CODcr)) carry no result.
        for alias in self.aliases.iter().filter(|a| a.item == item) {
            segment = alias.regex.replace_all(&segment, " ").to_string();
        }
        let unit = find_unit(&segment).map(|(u, r)| {
            segment.replace_range(r, " ");
            u
        });
        let inline_limit = INLINE_LIMIT.find(&segment).map(|m| m.start());
        let prose = inline_limit.is_some() || header.is_none();
        let cut = inline_limit.unwrap_or(segment.len());
        let tokens = measured_values(&segment[..cut]);
        if tokens.is_empty() {
            return None;
        }
        let results: Vec<_> = tokens.iter().filter(|t| !t.range).copied().collect();
        let (value, confidence) = match &header {
            Some(h) if tokens.len() == h.columns.len() && inline_limit.is_none() => {
                let values: Vec<f64> =
                    tokens.iter().zip(&h.columns).filter(|(t, c)| **c == Column::Result && !t.range).map(|(t, _)| t.value).collect();
                (worst(item, &values)?, CONF_RESULT_CLEAR)
            }
            _ if results.len() == 1 => {
                (results[0].value, if header.is_some() && !prose { CONF_RESULT_CLEAR - 0.03 } else { CONF_RESULT_CLEAR })
            }
            _ => (results.first()?.value, CONF_RESULT_AMBIGUOUS),
        };
        let expected_unit = self.units.get(item).map(String::as_str).unwrap_or("mg/L");
        let unit = unit.or(header.as_ref().and_then(|h| h.unit));
        let factor = match (expected_unit, unit) {
            ("mg/L", Some(u)) => u.to_canonical(),
            _ => 1.0,
        };
        let value = (value * factor * 1e6).round() / 1e6;
        Some((value, confidence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn lines(texts: &[&str]) -> Vec<TextLine> {
        texts.iter().map(|t| TextLine::new(1, *t, 1.0)).collect()
    }

    fn ruleset() -> RuleSet {
        RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
    }

    fn field<'a>(fields: &'a [ExtractedField], path: &str) -> &'a ExtractedField {
        fields.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("{path} not read from {fields:?}"))
    }

    #[test]
    fn licence_labels_in_many_layouts() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents.other_labels);
        let read = reader.read(&lines(&[
            "营 业 执 照",
            "统一社会信用代码 92320214MA1NB3C47B",
            "名　　称：无锡市新吴区张记餐饮店 类 型 个体工商户",
            "经营者",
            "张三",
            "经营范围：餐饮服务；食品销售（仅销售预包装食品）；",
            "饮品制售。",
            "经营场所：无锡市新吴区长江路21号",
            "注册日期 二〇二四年三月五日",
        ]));
        assert_eq!(field(&read, "credit_code").value, json!("92320214MA1NB3C47B"));
        assert_eq!(field(&read, "name").value, json!("无锡市新吴区张记餐饮店"));
        assert_eq!(field(&read, "business_type").value, json!("个体工商户"));
        assert_eq!(field(&read, "legal_representative").value, json!("张三"));
        assert_eq!(field(&read, "legal_representative").confidence, CONF_NEXT_LINE);
        assert!(field(&read, "business_scope").value.as_str().unwrap().contains("饮品制售"));
        assert_eq!(field(&read, "established").value, json!("2024-03-05"));
        assert_eq!(field(&read, "name").confidence, CONF_LABEL_COLON);
    }

    #[test]
    fn seal_placeholders_are_not_part_of_a_name() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents.other_labels);
        let read = reader.read(&lines(&["委托单位：无锡市新吴区张记餐饮店（盖章）"]));
        assert_eq!(field(&read, "client").value, json!("无锡市新吴区张记餐饮店"));
    }

    #[test]
    fn label_rows_above_value_rows() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents.other_labels);
        let read = reader.read(&lines(&["名称 | 类型 | 经营者", "无锡市新吴区张记餐饮店 | 个体工商户 | 张三"]));
        assert_eq!(field(&read, "name").value, json!("无锡市新吴区张记餐饮店"));
        assert_eq!(field(&read, "business_type").value, json!("个体工商户"));
        assert_eq!(field(&read, "legal_representative").value, json!("张三"));
    }

    #[test]
    fn labels_wrapped_in_narrow_cells_are_joined() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents.other_labels);
        let read = reader.read(&lines(&[
            "统一社会信",
            "用代码 92320214MA1NB3C47B",
            "名　　称 无锡市新吴区茶语饮品店 注册日",
            "期 2024 年 02 月 28 日",
        ]));
        assert_eq!(field(&read, "credit_code").value, json!("92320214MA1NB3C47B"));
        assert_eq!(field(&read, "name").value, json!("无锡市新吴区茶语饮品店"));
        assert_eq!(field(&read, "established").value, json!("2024-02-28"));
    }

    #[test]
    fn a_label_inside_a_longer_word_is_not_that_label() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents.other_labels);
        let read = reader.read(&lines(&["委托方 无锡新之洲酒店有限公司 联系人 沈立群", "委托方地址 无锡市新吴区长江路 21 号"]));
        assert_eq!(field(&read, "client").value, json!("无锡新之洲酒店有限公司"));
        assert_eq!(field(&read, "client").confidence, CONF_LABEL_SPACE);
    }

    #[test]
    fn an_id_card_label_glued_to_its_value_by_ocr_is_still_the_label() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["id_card"], &rules.documents.other_labels);
        let read = reader.read(&lines(&["姓名陈晓雨", "性别男 民族 汉", "公民身份号码 320214199506011239"]));
        assert_eq!(field(&read, "name").value, json!("陈晓雨"));
        assert_eq!(field(&read, "sex").value, json!("男"));
        assert_eq!(field(&read, "ethnicity").value, json!("汉"));
    }

    #[test]
    fn prose_dates_without_a_label() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents.other_labels);
        let read = reader.read(&lines(&["我公司检测人员于二〇二六年十月十二日对该店洗涤", "废水总排口（1#）进行了采样。"]));
        assert_eq!(field(&read, "sampling_date").value, json!("2026-10-12"));
    }

    #[test]
    fn several_sampling_points_give_the_worst_reading() {
        let rules = ruleset();
        let reader = PollutantReader::new(&rules.water);
        let read = reader.read(&lines(&[
            "检测项目 单位 W1 W2 标准限值 评价",
            "pH 值（无量纲） 无量纲 7.3 8.9 6.5~9.5 达标",
            "COD mg/L 214 268 500 达标",
        ]));
        assert_eq!(field(&read, "pollutants.ph").value, json!(8.9));
        assert_eq!(field(&read, "pollutants.cod").value, json!(268.0));
        assert_eq!(field(&read, "pollutants.cod").confidence, CONF_RESULT_CLEAR);
    }

    #[test]
    fn prose_results_and_quoted_limits() {
        let rules = ruleset();
        let reader = PollutantReader::new(&rules.water);
        let read = reader.read(&lines(&[
            "检测结果如下：pH值为7.6（无量纲）；悬浮物浓度为58毫克/升；化学需氧量为196毫克/",
            "升；氨氮为8.3毫克/升。",
            "上述项目均满足B级标准限值要求（化学需氧量500毫克/升、悬浮物400毫克/升）。",
        ]));
        assert_eq!(field(&read, "pollutants.ph").value, json!(7.6));
        assert_eq!(field(&read, "pollutants.cod").value, json!(196.0));
        assert_eq!(field(&read, "pollutants.cod").confidence, CONF_RESULT_CLEAR, "the quoted limit is not a second reading");
        assert_eq!(field(&read, "pollutants.ss").value, json!(58.0));
    }

    /// Regression (review of 2026-11-28): a line ending in a multi-byte space (U+2003) made the
    /// split-label join slice inside a character and panic.
    #[test]
    fn contribution_spans_in_months_or_years_and_months() {
        assert_eq!(typed_value(FieldKind::Months, "426个月"), Some(json!(426.0)));
        assert_eq!(typed_value(FieldKind::Months, "426"), Some(json!(426.0)));
        assert_eq!(typed_value(FieldKind::Months, "35年6个月"), Some(json!(426.0)));
        assert_eq!(typed_value(FieldKind::Months, "35年"), Some(json!(420.0)));
        assert_eq!(typed_value(FieldKind::Months, "2025年6月"), None, "a date is not a span");
        assert_eq!(typed_value(FieldKind::Months, "35年14个月"), None);
    }

    #[test]
    fn validity_periods_end_on_their_later_date_or_never() {
        assert_eq!(typed_value(FieldKind::ValidityEnd, "2015.06.01-2035.06.01"), Some(json!("2035-06-01")));
        assert_eq!(typed_value(FieldKind::ValidityEnd, "2016.02.10-长期"), Some(json!("long_term")));
        assert_eq!(typed_value(FieldKind::ValidityEnd, "2006年09月09日至2016年09月09日"), Some(json!("2016-09-09")));
        assert_eq!(typed_value(FieldKind::ValidityEnd, "2035.06.01"), None, "a single date is not a period");
        assert_eq!(typed_value(FieldKind::ValidityEnd, "2035.06.01-2015.06.01"), None, "a period that ends before it starts");
    }

    #[test]
    fn multi_byte_spaces_do_not_panic() {
        let rules = ruleset();
        for kind in rules.documents.kinds.values() {
            let reader = KindReader::new(kind, &rules.documents.other_labels);
            reader.read(&lines(&["名称\u{2003}甲公司\u{2003}", "\u{2003}统一社会信\u{205F}", "用代码 92320214MA1NB3C47B\u{202F}"]));
        }
        PollutantReader::new(&rules.water)
            .read(&lines(&["检测项目\u{2003}W1\u{2003}W2\u{2003}限值", "COD\u{2003}12\u{2003}13\u{2003}500"]));
    }

    #[test]
    fn conflicting_readings_lower_the_confidence() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents.other_labels);
        let read = reader.read(&lines(&["名称：甲公司", "名称：乙公司"]));
        assert_eq!(field(&read, "name").confidence, CONF_CONFLICT);
    }

    #[test]
    fn results_tables_with_either_column_order_and_units() {
        let rules = ruleset();
        let reader = PollutantReader::new(&rules.water);
        let read = reader.read(&lines(&[
            "序号 检测项目 单位 标准限值 检测结果 单项判定",
            "1 pH值 无量纲 6.5~9.5 7.4 达标",
            "2 化学需氧量(CODcr) 毫克/升 500 236 达标",
            "3 氨氮(以N计) mg/l 45 12.5 达标",
            "4 五日生化需氧量 mg/L 350 98 达标 HJ 505-2009",
            "5 总磷 μg/L 8 2100 达标",
            "6 动植物油 mg/L 100 ND 达标",
        ]));
        assert_eq!(field(&read, "pollutants.ph").value, json!(7.4));
        assert_eq!(field(&read, "pollutants.cod").value, json!(236.0));
        assert_eq!(field(&read, "pollutants.nh3n").value, json!(12.5));
        assert_eq!(field(&read, "pollutants.bod5").value, json!(98.0));
        assert_eq!(field(&read, "pollutants.tp").value, json!(2.1));
        assert_eq!(field(&read, "pollutants.oil").value, json!(0.0));
        assert!(read.iter().all(|f| f.confidence >= 0.9), "{read:?}");
    }

    #[test]
    fn prose_results_and_ambiguous_rows() {
        let rules = ruleset();
        let reader = PollutantReader::new(&rules.water);
        let read = reader.read(&lines(&["化学需氧量：236 mg/L，标准限值500 mg/L", "悬浮物 120 400", "CODMn 3.1"]));
        assert_eq!(field(&read, "pollutants.cod").value, json!(236.0));
        assert_eq!(field(&read, "pollutants.cod").confidence, CONF_RESULT_CLEAR);
        assert_eq!(field(&read, "pollutants.ss").confidence, CONF_RESULT_AMBIGUOUS);
        assert_eq!(read.len(), 2, "CODMn is not COD: {read:?}");
    }
}
