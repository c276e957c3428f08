//! Reading water-quality results (pollutant concentrations) from test reports, in tables or in prose.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use crate::reading::TextLine;
use crate::rules::catalog::{PollutantSpec, WaterStandard};
use crate::understanding::normalize::{find_unit, halfwidth, measured_values, Measured, Unit};

use super::{is_han, ExtractedField, Unread, CONF_CONFLICT, CONF_RESULT_AMBIGUOUS, CONF_RESULT_CLEAR};

mod grid;
mod rows;

// ---- water-quality results ----

static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").expect("valid pattern"));

/// How sure the reader was of a result: of the item's name and of the cell the number was read
/// from (not of the row's serial number or its limit column). When the number does not stand in
/// the text as read (a unit was converted), of the whole segment. A name the row's own limit
/// already identifies (`identified`) does not count: the recogniser often hesitates over a short
/// name's glyphs ("SS" at 0.63, "pH值" at 0.92 on noisy scans) whose row "≤400" or "6.5~9.5" is
/// that item's limit in the standard, while a misread that turns 总氮 into 氨氮 keeps counting
/// beside 总氮's limit of 70.
fn value_read_confidence(
    line: &TextLine,
    text: &str,
    name: std::ops::Range<usize>,
    segment: std::ops::Range<usize>,
    value: f64,
    identified: bool,
) -> f64 {
    let name_confidence = if identified { 1.0 } else { line.confidence_in(text, name.clone()) };
    let cell = NUMBER
        .find_iter(&text[segment.clone()])
        .find(|m| m.as_str().parse::<f64>().is_ok_and(|v| (v - value).abs() < 1e-9))
        .map(|m| line.confidence_in(text, segment.start + m.start()..segment.start + m.end()));
    match cell {
        Some(cell) => name_confidence.min(cell),
        None => line.confidence_in(text, name.start..segment.end),
    }
}

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

/// Where a results table ends: its notes, conclusion and signatures.
static TABLE_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"以下空白|以下无|^\s*(?:结论|检测结论|评价结论|备注|说明|注\s*[:：]|编制|审核|批准|签发)").unwrap());
/// Text in a line that holds digits but no result: page numbers, times, dates, standard numbers.
static NOT_RESULTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"第\s*\d+\s*页|共\s*\d+\s*页|\d+\s*/\s*\d+\s*页|(?i)page\s*\d+(?:\s*of\s*\d+)?|\d{1,2}:\d{2}(?::\d{2})?").unwrap()
});
/// A line's opening label ("报告编号：", "邮编:"): an information line, not a results row.
static INFO_LABEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*\p{Han}{2,8}\s*[:：]").unwrap());

/// Blanks out (char for char, so offsets into the text stay valid) what carries digits but is no
/// result: dates, times, page numbers, standard numbers.
pub(super) fn strip_non_results(text: &str) -> String {
    let mut out = text.to_string();
    let blank = |re: &Regex, out: &mut String| {
        let ranges: Vec<_> = re.find_iter(out).map(|m| m.range()).collect();
        for r in ranges.into_iter().rev() {
            let spaces: String = out[r.clone()].chars().map(|_| ' ').collect();
            out.replace_range(r, &spaces);
        }
    };
    blank(&NOT_RESULTS, &mut out);
    blank(&STANDARD_NUMBER, &mut out);
    blank(&DATE_LIKE, &mut out);
    out
}

static DATE_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日?)?|\d{4}[-./]\d{1,2}[-./]\d{1,2}|(?:^|\s)20\d{6}(?:\s|$)").unwrap()
});

/// A line (or a clause) that reads like a result with a name the reader does not know: a name, a
/// number that is not a limit, and a concentration unit, or, inside a results table, a name and a
/// number alone.
fn looks_like_unknown_result(text: &str, in_table: bool) -> bool {
    // "邮编：214028" is information; "总锌：0.8 mg/L" with its unit is still a result.
    if LIMIT_HEADER.is_match(text) || INLINE_LIMIT.is_match(text) || (INFO_LABEL.is_match(text) && find_unit(text).is_none()) {
        return false;
    }
    let stripped = strip_non_results(text);
    let has_result = measured_values(&stripped).iter().any(|t| !t.range);
    let names = stripped.chars().filter(|c| is_han(*c)).count() >= 2;
    let concentration = find_unit(&stripped).is_some_and(|(u, _)| !matches!(u, Unit::Dimensionless | Unit::Celsius));
    has_result && names && (concentration || in_table)
}

/// Whether the list of limits this line is in (`carried` from the line above, or one it opens with
/// 限值/标准值 … after its last full stop) runs on onto the next line.
fn continues_limits(text: &str, carried: bool) -> bool {
    // One line only: a list still open after its second line is not followed further (a lost
    // bracket must not turn every later line into limits).
    if carried {
        return false;
    }
    let after_stop = text.char_indices().rfind(|(_, c)| matches!(c, '。' | ')')).map_or(0, |(at, c)| at + c.len_utf8());
    // Open: a bracket of limits not closed on this line, or a list broken after its separator.
    INLINE_LIMIT.find_iter(&text[after_stop..]).last().is_some_and(|m| {
        let rest = &text[after_stop + m.end()..];
        let unclosed = rest.matches('(').count() > rest.matches(')').count();
        parse_header(text).is_none() && (unclosed || rest.trim_end().ends_with(['、', ',']))
    })
}

/// What reading a results table gave: the results, and the rows it could not read.
#[derive(Debug, Clone, Default)]
pub struct ResultsRead {
    pub fields: Vec<ExtractedField>,
    pub unread: Vec<Unread>,
}

const UNREAD_UNKNOWN_ITEM: &str = "检测项目无法识别";
const UNREAD_VALUE: &str = "检测结果无法识别";

/// What a report says of its own result: within its limit (合格, 达标, 符合) or not.
static VERDICT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?P<fail>不合格|不达标|未达标|不符合|超标)|合格|达标|符合").unwrap());

/// A sampling-point column of a results table: W1, W2, WS-01, 1#, 点位1 …
static POINT_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:WS-?\d{1,2}|W\d{1,2}|S\d{1,2}|\d{1,2}#|点位\d{1,2}|[一二三四]号点|第[一二三四五六\d]次|平?均值)$").unwrap()
});

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

/// The interval a row's own limit allows: its limit column when the row's numbers line up with the
/// header's columns, else a limit written as one (`≤500`, `6~9`), else the first number after an
/// inline "限值" (`inline`). A bare number is a limit up to it, never for pH, whose limit is a range.
fn row_allows(item: &str, tokens: &[Measured], header: Option<&ResultsHeader>, inline: Option<f64>) -> Option<(f64, f64)> {
    let up_to = |v: f64| (item != "ph" && v.is_finite()).then_some((0.0, v));
    match header {
        Some(h) if tokens.len() == h.columns.len() && inline.is_none() => tokens
            .iter()
            .zip(&h.columns)
            .find(|(_, c)| **c == Column::Limit)
            .and_then(|(t, _)| t.allows.or_else(|| (!t.range && !t.below_detection).then(|| up_to(t.value)).flatten())),
        _ => tokens.iter().find_map(|t| t.allows).or_else(|| inline.and_then(up_to)),
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
    /// Every alias in one automaton: most lines name no item, and one pass says so.
    any_alias: regex::RegexSet,
    /// The standard's items: their units and limits.
    items: BTreeMap<String, PollutantSpec>,
}

/// A result read from a row: its value, how sure the row's layout makes it, and whether the row's
/// own limit is the item's limit in the standard (for some grade), which identifies the item.
struct Reading {
    value: f64,
    confidence: f64,
    identified: bool,
    /// The value is a "below the detection limit" (`<0.05`, `ND`, `0.05L`): the limit, or 0.
    below_detection: bool,
}

/// Whether the reading `value` among `readings` (each a value and whether it was written as below
/// the detection limit) was written so, and by none as a measured number.
pub(super) fn below_detection(readings: &[(f64, bool)], value: f64) -> bool {
    let is = |below: bool| readings.iter().any(|&(v, b)| b == below && v == value);
    is(true) && !is(false)
}

/// The reviewer's note on a result written as below the detection limit: it passes any limit as
/// the number it is taken for, and the decision says so.
pub(super) fn below_detection_note(value: f64) -> String {
    if value > 0.0 {
        format!("低于检出限（<{value}），按 {value} 计")
    } else {
        "未检出，按 0 计".to_string()
    }
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
        let any_alias = regex::RegexSet::new(aliases.iter().map(|a| a.regex.as_str())).expect("escaped aliases");
        Self { aliases, any_alias, items: water.items.clone() }
    }

    /// Item mentions in a line, in order: (item, alias start, alias end).
    fn mentions(&self, line: &str) -> Vec<(String, usize, usize)> {
        let mut out: Vec<(String, usize, usize)> = Vec::new();
        let matched = self.any_alias.matches(line);
        if !matched.matched_any() {
            return out;
        }
        for alias in self.aliases.iter().enumerate().filter(|(i, _)| matched.matched(*i)).map(|(_, a)| a) {
            for m in alias.regex.find_iter(line) {
                if alias.ascii {
                    // COD must not match inside CODMn or a word such as CODE.
                    let before = line[..m.start()].chars().next_back();
                    let after = line[m.end()..].chars().next();
                    if before.is_some_and(|c| c.is_ascii_alphanumeric()) || after.is_some_and(|c| c.is_ascii_alphabetic()) {
                        continue;
                    }
                }
                if alias.n_chars == 1 && !alias.ascii {
                    // A one-character name (汞, 铬) stands alone in its cell: 重铬酸盐法 is the COD
                    // method, not chromium.
                    let before = line[..m.start()].chars().next_back();
                    let after = line[m.end()..].chars().next();
                    if before.is_some_and(is_han) || after.is_some_and(is_han) {
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

    /// The results as fields `pollutants.<item>`, the path the water-quality report declares.
    #[cfg(test)]
    pub fn read(&self, lines: &[TextLine]) -> Vec<ExtractedField> {
        self.read_under("pollutants", lines).fields
    }

    /// The results as fields `<under>.<item>` (`under` is the kind's declared `results`), and the
    /// rows that look like results but could not be read.
    pub fn read_under(&self, under: &str, lines: &[TextLine]) -> ResultsRead {
        let lines = self.shape_rows(lines);
        let normalized: Vec<String> = lines.iter().map(|l| halfwidth(&l.text)).collect();
        let mut consumed = vec![false; lines.len()];
        let mut found: BTreeMap<String, ExtractedField> = BTreeMap::new();
        let mut unread: Vec<Unread> = Vec::new();
        for grid in self.sideways_grids(&lines, &normalized) {
            for idx in grid.lines {
                consumed[idx] = true;
            }
            for (item, value, confidence, line_idx, below) in grid.results {
                let line = &lines[line_idx];
                let path = format!("{under}.{item}");
                let mut candidate = ExtractedField::from_line(path, json!(value), confidence, line);
                candidate.note = below.then(|| below_detection_note(value));
                self.merge(&item, &mut found, candidate);
            }
            unread.extend(grid.unread);
        }
        let mut header: Option<ResultsHeader> = None;
        let mut limits_carry = false;
        for (line_idx, line) in lines.iter().enumerate() {
            if consumed[line_idx] {
                continue;
            }
            let text = &normalized[line_idx];
            // A sentence listing the limits wraps: "…满足B级标准限值要求（化学需氧量500毫克/升、阴" /
            // "离子表面活性剂20毫克/升）。" names limits up to its full stop on the next line too.
            // Prose only: a table's rows are never limits.
            let limits_until = if limits_carry { text.find(['。', ')']).unwrap_or(text.len()) } else { 0 };
            limits_carry = header.is_none() && continues_limits(text, limits_carry);
            let mentions = self.mentions(text);
            let has_digits = text.chars().any(|c| c.is_ascii_digit());
            if mentions.is_empty() || (mentions.len() > 3 && !has_digits) {
                // A header row, or a list of items ("pH、COD、氨氮……均达标") rather than results.
                if let Some(h) = parse_header(text) {
                    header = Some(h);
                } else if let Some(h) = header.as_mut() {
                    // A second header row under 检测结果 naming its sub-columns (第一次 第二次 第三次
                    // 均值, or W1 W2): the one result column becomes that many.
                    let points = point_columns(text).len();
                    let cells = text.split_whitespace().count();
                    if points >= 2 && points == cells {
                        if let Some(at) = h.columns.iter().position(|c| *c == Column::Result) {
                            h.columns.splice(at..=at, std::iter::repeat_n(Column::Result, points));
                        }
                    }
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
                if *mention_start < limits_until {
                    // On the line a list of limits wrapped onto, a number that is the item's limit
                    // in the standard is that limit; any other number is read (and checked) as a
                    // result, never dropped.
                    let next = mentions.get(idx + 1).map_or(text.len(), |m| m.1);
                    let first = measured_values(&strip_non_results(&text[*alias_end..next])).first().map(|t| t.value);
                    if first.is_some_and(|v| self.is_standard_limit(item, v)) {
                        continue;
                    }
                }
                let mut segment_end = mentions.get(idx + 1).map(|m| m.1).unwrap_or(text.len());
                // Prose ends an item's clause at ；or 。: what follows is another item's, perhaps
                // one no alias names ("化学需氧量：236 mg/L；总锌：0.8 mg/L").
                if let Some((cut, sep)) = text[*alias_end..segment_end].char_indices().find(|(_, c)| matches!(c, ';' | '。')) {
                    let tail = &text[*alias_end + cut + sep.len_utf8()..segment_end];
                    if looks_like_unknown_result(tail, false) {
                        unread.push(Unread::row(line, tail.trim(), UNREAD_UNKNOWN_ITEM));
                    }
                    segment_end = *alias_end + cut;
                }
                let segment = &text[*alias_end..segment_end];
                let mut reading = self.read_segment(item, segment, header.as_ref());
                if reading.is_none() && idx + 1 == mentions.len() {
                    // A wrapped cell (a long method name) or a wrapped sentence pushes the last
                    // item's numbers onto the next line.
                    if let Some(next) = normalized.get(line_idx + 1).filter(|n| self.mentions(n).is_empty() && parse_header(n).is_none()) {
                        reading = self.read_segment(item, &format!("{segment} {next}"), header.as_ref());
                        if reading.is_some() {
                            consumed[line_idx + 1] = true;
                        }
                    }
                }
                if reading.is_none() && mentions.len() == 1 && header.is_some() && line_idx > 0 {
                    // In a tall row (its method cell wrapped) the numbers may sit on the row's first
                    // line and the item's name lower down: "HJ586-2010 N,N-二乙基… 0.03 3.6" above
                    // "总余氯 mg/L".
                    let previous = &normalized[line_idx - 1];
                    if self.mentions(previous).is_empty() && parse_header(previous).is_none() {
                        reading = self.read_segment(item, &format!("{previous} {segment}"), header.as_ref());
                        if reading.is_some() {
                            consumed[line_idx - 1] = true;
                        }
                    }
                }
                let Some(Reading { value, confidence, identified, below_detection }) = reading else {
                    // A row of a results table that names an item and carries a number the reader
                    // cannot take as its result: not read, so not checked.
                    if header.is_some() && !measured_values(&strip_non_results(segment)).iter().all(|t| t.range) {
                        unread.push(Unread::row(line, &line.text, UNREAD_VALUE));
                    }
                    continue;
                };
                consumed[line_idx] = true;
                let path = format!("{under}.{item}");
                let confidence =
                    confidence * value_read_confidence(line, text, *mention_start..*alias_end, *alias_end..segment_end, value, identified);
                let mut candidate = ExtractedField::from_line(path, json!(value), confidence, line);
                candidate.note = below_detection.then(|| below_detection_note(value));
                self.merge(item, &mut found, candidate);
            }
        }
        unread.extend(self.leftover_rows(&lines, &normalized, &consumed));
        ResultsRead { fields: found.into_values().collect(), unread }
    }

    /// Keeps one reading per item. Two readings (several sampling points, or a limit taken for a
    /// result): keep the worse value so a limit rule still fails, and let a person look.
    fn merge(&self, item: &str, found: &mut BTreeMap<String, ExtractedField>, candidate: ExtractedField) {
        match found.get_mut(&candidate.path) {
            None => {
                found.insert(candidate.path.clone(), candidate);
            }
            Some(existing) if existing.value == candidate.value => {}
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

    /// Rows of a results table, and lines anywhere with a concentration, that no item was read
    /// from: each keeps the report from being taken as fully read.
    fn leftover_rows(&self, lines: &[TextLine], normalized: &[String], consumed: &[bool]) -> Vec<Unread> {
        let mut in_table = false;
        let mut out = Vec::new();
        for (idx, text) in normalized.iter().enumerate() {
            if parse_header(text).is_some() {
                in_table = true;
                continue;
            }
            if TABLE_END.is_match(text) {
                in_table = false;
                continue;
            }
            if consumed[idx] || !self.mentions(text).is_empty() {
                continue;
            }
            if looks_like_unknown_result(text, in_table) {
                out.push(Unread::row(&lines[idx], &lines[idx].text, UNREAD_UNKNOWN_ITEM));
            }
        }
        out
    }

    /// Whether `value` is `item`'s limit (its upper bound) in the standard for some grade.
    fn is_standard_limit(&self, item: &str, value: f64) -> bool {
        self.items.get(item).is_some_and(|spec| spec.max.values().any(|max| (max - value).abs() < 1e-9 * max.abs().max(1.0)))
    }

    /// What a value in `unit` is multiplied by to be in the unit the standard gives `item` in
    /// (µg/L → mg/L, per 100 mL → per litre); 1 for a unit of another kind or none.
    fn factor(&self, item: &str, unit: Option<Unit>) -> f64 {
        let expected = self.items.get(item).map_or("mg/L", |spec| spec.unit.as_str());
        match (expected, unit) {
            ("mg/L", Some(u @ (Unit::MilligramPerLitre | Unit::MicrogramPerLitre | Unit::GramPerLitre)))
            | ("MPN/L", Some(u @ (Unit::CountPerLitre | Unit::CountPer100Millilitres))) => u.to_canonical(),
            _ => 1.0,
        }
    }

    fn read_segment(&self, item: &str, segment: &str, header: Option<&ResultsHeader>) -> Option<Reading> {
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
        let (value, mut confidence) = match &header {
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
        let factor = self.factor(item, unit.or(header.as_ref().and_then(|h| h.unit)));
        // The report's own judgement of the row against the row's own limit: a result read beyond
        // a limit the report calls met (or within one it calls exceeded) was misread (a decimal
        // point lost on a noisy scan turns 2.46 into 246) or the report contradicts itself. Either
        // way the reading is not one to decide on. Not when the row's unit is converted: its limit
        // column may be in the standard's unit rather than the result's.
        let verdict = VERDICT.captures(&segment).map(|c| c.name("fail").is_none());
        let inline = inline_limit.and_then(|at| NUMBER.find(&segment[at..])).and_then(|m| m.as_str().parse().ok());
        let allows = row_allows(item, &tokens, header, inline).filter(|_| factor == 1.0);
        let identified = allows.is_some_and(|(low, high)| {
            self.items.get(item).is_some_and(|spec| {
                spec.max
                    .iter()
                    .any(|(grade, max)| (max - high).abs() < 1e-9 && (spec.min.get(grade).copied().unwrap_or(0.0) - low).abs() < 1e-9)
            })
        });
        if let (Some(met), Some((low, high))) = (verdict, allows) {
            let within = value >= low - 1e-9 && value <= high + 1e-9;
            if within != met {
                tracing::debug!(item, value, low, high, met, "a result contradicts the report's own verdict");
                confidence = confidence.min(CONF_CONFLICT);
            }
        }
        let readings: Vec<(f64, bool)> = tokens.iter().filter(|t| !t.range).map(|t| (t.value, t.below_detection)).collect();
        let below_detection = below_detection(&readings, value);
        let value = (value * factor * 1e6).round() / 1e6;
        Some(Reading { value, confidence, identified, below_detection })
    }
}
