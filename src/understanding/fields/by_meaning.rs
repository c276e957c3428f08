//! Labels no synonym list holds, read by their meaning (`understanding::meaning`): the pairs such
//! labels head on a line, and the fields they fill when no listed label gave them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{
    label_shaped, merge, typed_value, ExtractedField, KindReader, LabelHit, CONF_BY_MEANING, CONF_CONFLICT, CONF_LABEL_COLON,
    CONF_LABEL_SPACE,
};
use crate::reading::TextLine;
use crate::understanding::meaning::{head, FieldOf, Meaning};

/// A short Han label and its colon, where a segment starts.
static UNLISTED_COLON: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|[\s|;,.、，；。])(\p{Han}{2,8})\s*:").unwrap());

impl KindReader {
    /// Pairs on a line whose label no list holds: "标签：value" where a segment starts, and a
    /// label-shaped cell (ending in a label head, see `label_shaped`) followed by a value cell.
    /// Each is `(label, value range, colon)`; a value ends where the next label of either sort starts.
    fn unlisted_pairs(&self, text: &str, hits: &[LabelHit]) -> Vec<(String, Range<usize>, bool)> {
        let listed = |at: usize| hits.iter().any(|h| h.start <= at && at < h.end);
        let mut labels: Vec<(Range<usize>, bool)> = UNLISTED_COLON
            .captures_iter(text)
            .filter_map(|c| c.get(1))
            .filter(|m| !listed(m.start()) && !listed(m.end() - 1))
            .map(|m| (m.range(), true))
            .collect();
        let mut offset = 0;
        for cell in text.split_whitespace() {
            let start = offset + text[offset..].find(cell).unwrap_or(0);
            offset = start + cell.len();
            if !cell.contains(':')
                && label_shaped(cell, &self.label_heads)
                && !listed(start)
                && !labels.iter().any(|(r, _)| r.start == start)
            {
                labels.push((start..offset, false));
            }
        }
        labels.sort_by_key(|(r, _)| r.start);
        let mut pairs = Vec::new();
        for (i, (label, colon)) in labels.iter().enumerate() {
            let after = if *colon { label.end + text[label.end..].find(':').map_or(0, |c| c + 1) } else { label.end };
            let next_label = labels.get(i + 1).map(|(r, _)| r.start).unwrap_or(text.len());
            let next_hit = hits.iter().map(|h| h.start).filter(|s| *s >= after).min().unwrap_or(text.len());
            let end = next_label.min(next_hit).max(after);
            let value = text[after..end].trim();
            // A bare head noun (单位, 名称, 日期) names nothing by itself: in a results table's
            // header (项目 单位 结果 …) 单位 is the unit column. Without a colon, a value is one
            // cell: more cells after a label-shaped cell are a row of headers or of another table.
            let name = &text[label.clone()];
            if value.is_empty() || head(name, &self.label_heads) == name || (!colon && value.split_whitespace().nth(1).is_some()) {
                continue;
            }
            let value_start = after + text[after..end].find(value).unwrap_or(0);
            pairs.push((name.to_string(), value_start..value_start + value.len(), *colon));
        }
        pairs
    }

    /// Fields no listed label gave, from labels read by meaning (`field_of`: the field a label
    /// means, `understanding::meaning`). Found also by a sentence or a letterhead with another
    /// value, a field is doubtful; two unlisted labels meaning one field with two values, too.
    pub(super) fn read_by_meaning(
        &self,
        normalized: &[String],
        all_hits: &[Vec<LabelHit>],
        lines: &[TextLine],
        by_label: &[String],
        field_of: FieldOf<'_>,
        found: &mut BTreeMap<String, ExtractedField>,
    ) {
        let mut read: BTreeMap<String, ExtractedField> = BTreeMap::new();
        for (idx, text) in normalized.iter().enumerate() {
            for (label, range, colon) in self.unlisted_pairs(text, &all_hits[idx]) {
                let Some(nearest) = field_of(&label) else { continue };
                let Meaning::Field(field) = &nearest.meaning else { continue };
                let Some(&(kind, _)) = self.fields.get(field) else { continue };
                let Some(typed) = typed_value(kind, &text[range.clone()]) else { continue };
                if by_label.contains(field) {
                    // The listed label's reading stands; another value under a label meaning the
                    // same field makes it doubtful.
                    if let Some(listed) = found.get_mut(field).filter(|f| f.value != typed) {
                        listed.confidence = listed.confidence.min(CONF_CONFLICT);
                    }
                    continue;
                }
                let line = &lines[idx];
                let layout = if colon { CONF_LABEL_COLON } else { CONF_LABEL_SPACE };
                let confidence = layout * CONF_BY_MEANING * line.confidence_in(text, range);
                let mut field = ExtractedField::from_line(field.clone(), typed, confidence, line);
                field.note = Some(format!("标签“{label}”按含义读作“{}”（相似度 {:.2}）", nearest.anchor, nearest.similarity));
                merge(&mut read, field);
            }
        }
        for (_, field) in read {
            merge(found, field);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{field, lines, ruleset};
    use super::super::CONF_LABEL_COLON;
    use super::*;

    /// A stand-in for the encoder's reading of labels: the labels it knows and the field each means.
    fn meaning_of(known: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<crate::understanding::meaning::Nearest> {
        move |label: &str| {
            known.iter().find(|(l, _)| *l == label).map(|(_, field)| crate::understanding::meaning::Nearest {
                meaning: Meaning::Field(field.to_string()),
                anchor: "委托单位".into(),
                similarity: 0.98,
                margin: 0.05,
            })
        }
    }

    #[test]
    fn a_label_no_list_holds_is_read_by_its_meaning_with_how_it_was_read() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
        let text = lines(&["检 测 报 告", "申请检测单位：无锡市新吴区张记餐饮店 联系电话：0510-8888", "采样日期：2026年8月19日"]);
        assert!(reader.read(&text).iter().all(|f| f.path != "client"), "without meaning the label is unknown");
        let field_of = meaning_of(&[("申请检测单位", "client")]);
        let read = reader.read_with(&text, Some(&field_of));
        let client = field(&read, "client");
        assert_eq!(client.value, json!("无锡市新吴区张记餐饮店"), "the value stops at the next label");
        assert!((client.confidence - CONF_LABEL_COLON * CONF_BY_MEANING).abs() < 1e-9);
        assert!(client.note.as_deref().is_some_and(|n| n.contains("申请检测单位") && n.contains("委托单位")), "{:?}", client.note);
        assert_eq!(field(&read, "sampling_date").note, None, "a listed label's reading needs no note");
    }

    #[test]
    fn a_field_given_by_a_listed_label_is_not_read_again_by_meaning() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
        let text = lines(&["委托单位：无锡市新吴区张记餐饮店", "申请检测单位：无锡市新吴区张记餐饮店"]);
        let field_of = meaning_of(&[("申请检测单位", "client")]);
        let client = field(&reader.read_with(&text, Some(&field_of)), "client").clone();
        assert_eq!(client.value, json!("无锡市新吴区张记餐饮店"));
        assert_eq!(client.confidence, CONF_LABEL_COLON);
        assert_eq!(client.note, None);
        // Another value under a label meaning the same field: the listed reading is doubtful.
        let text = lines(&["委托单位：无锡市新吴区张记餐饮店", "申请检测单位：无锡某某化工有限公司"]);
        let client = field(&reader.read_with(&text, Some(&field_of)), "client").clone();
        assert_eq!(client.value, json!("无锡市新吴区张记餐饮店"));
        assert!(client.confidence <= CONF_CONFLICT);
    }

    #[test]
    fn two_unlisted_labels_meaning_one_field_with_two_values_are_doubtful() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
        let text = lines(&["申请检测单位：无锡市新吴区张记餐饮店", "付款单位：无锡某某化工有限公司"]);
        let field_of = meaning_of(&[("申请检测单位", "client"), ("付款单位", "client")]);
        let client = field(&reader.read_with(&text, Some(&field_of)), "client").clone();
        assert!(client.confidence <= CONF_CONFLICT, "{client:?}");
    }

    #[test]
    fn a_bare_head_noun_or_a_row_of_header_cells_is_no_pair() {
        let rules = ruleset();
        let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
        // The encoder would read 单位 as 单位名称 (the client); a results table's unit column is not.
        let field_of = meaning_of(&[("单位", "client"), ("报告单位", "client")]);
        let read = reader.read_with(&lines(&["项目 单位 结果 排放限值 判定", "单位：mg/L"]), Some(&field_of));
        assert!(read.iter().all(|f| f.path != "client"), "{read:?}");
        let read = reader.read_with(&lines(&["报告单位 某某 检测 有限公司"]), Some(&field_of));
        assert!(read.iter().all(|f| f.path != "client"), "several cells after a label cell: {read:?}");
    }
}
