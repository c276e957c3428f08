//! Contribution months from a per-year table when the record gives no total: a header row with a
//! year column (年度, 年份, 缴费年度) and a months column under one of the field's own labels
//! (缴费月数, 月数), then one row per year. The months are summed only when every row between the
//! header and the table's end lines up with the header and names a distinct year with 1 to 12
//! months; a row that does not, or a year written twice, and nothing is summed (the field stays
//! unread and a person looks). A header repeated on the next page continues the table.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::ExtractedField;
use crate::reading::TextLine;
use crate::understanding::normalize::halfwidth;

/// A sum of a table's rows: each row read right, and none left out, is one more thing that can be
/// wrong than a printed total, so a sum from a text layer just issues and one from OCR goes to a
/// person.
const CONF_YEARLY_SUM: f64 = 0.92;

/// Header cells naming the year column.
const YEAR_HEADERS: [&str; 4] = ["年度", "年份", "缴费年度", "缴费年份"];

static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(19[5-9]\d|20\d\d)年?$").unwrap());
/// Lines inside a table that are no row: page numbers, a page's running header.
static PAGE_MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:第\s*\d+\s*页(?:\s*[,，]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|(?i:page)\s*\d+.*)\s*$").unwrap());

/// The total months of a per-year table under `labels` (the months field's labels), as field `path`.
pub(super) fn months_from_yearly_table(path: &str, labels: &[String], lines: &[TextLine]) -> Option<ExtractedField> {
    let cells: Vec<Vec<String>> = lines.iter().map(|l| halfwidth(&l.text).split_whitespace().map(str::to_string).collect()).collect();
    let is_header = |row: &[String]| -> Option<(usize, usize)> {
        let year = row.iter().position(|c| YEAR_HEADERS.contains(&c.as_str()))?;
        let months = row.iter().position(|c| labels.iter().any(|l| l == c))?;
        Some((year, months))
    };
    let start = cells.iter().position(|row| is_header(row).is_some())?;
    let header = cells[start].clone();
    let (year_col, months_col) = is_header(&header)?;
    let mut years: Vec<u32> = Vec::new();
    let mut total = 0u32;
    let mut confidence = 1.0f64;
    let mut last = start;
    for (idx, row) in cells.iter().enumerate().skip(start + 1) {
        if row.is_empty() || *row == header || PAGE_MARK.is_match(&lines[idx].text) {
            continue;
        }
        let Some(year) = row.get(year_col).and_then(|c| YEAR.captures(c)).and_then(|c| c[1].parse::<u32>().ok()) else {
            // The first line that is no year's row ends the table, unless a year's row starts it
            // and does not line up (then nothing is summed).
            if row.first().is_some_and(|c| YEAR.is_match(c)) {
                return None;
            }
            break;
        };
        let months = row.get(months_col).and_then(|c| c.trim_end_matches("个月").trim_end_matches('月').parse::<u32>().ok());
        match months {
            Some(m @ 1..=12) if row.len() == header.len() && !years.contains(&year) => {
                years.push(year);
                total += m;
                confidence = confidence.min(lines[idx].confidence);
                last = idx;
            }
            _ => return None,
        }
    }
    let (first, final_year) = (years.iter().min()?, years.iter().max()?);
    let line = &lines[last];
    let mut field = ExtractedField::from_line(path, json!(f64::from(total)), CONF_YEARLY_SUM * confidence, line);
    field.note = Some(format!("按年度缴费明细合计：{first}—{final_year} 年，{} 行，共 {total} 个月", years.len()));
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(texts: &[&str]) -> Vec<TextLine> {
        texts.iter().map(|t| TextLine::new(1, *t, 1.0)).collect()
    }

    fn labels() -> Vec<String> {
        vec!["缴费月数".into(), "月数".into()]
    }

    #[test]
    fn the_rows_of_a_per_year_table_are_summed_across_a_page_break() {
        let read = months_from_yearly_table(
            "months",
            &labels(),
            &lines(&[
                "姓名 张三",
                "年度 起止年月 缴费月数 缴费基数",
                "2011 201103-201112 10 3,200",
                "2012 201201-201212 12 3,500",
                "第1页 共2页",
                "年度 起止年月 缴费月数 缴费基数",
                "2013 201301-201306 6 3,800",
                "说明：以上为本人参保缴费记录。",
            ]),
        )
        .unwrap();
        assert_eq!(read.value, json!(28.0));
        assert!((read.confidence - CONF_YEARLY_SUM).abs() < 1e-9);
        assert!(read.note.as_deref().is_some_and(|n| n.contains("2011—2013") && n.contains("3 行")), "{:?}", read.note);
    }

    #[test]
    fn a_row_not_understood_or_a_year_twice_sums_nothing() {
        let table = |rows: &[&str]| {
            let mut all = vec!["年度 起止年月 缴费月数 缴费基数"];
            all.extend_from_slice(rows);
            months_from_yearly_table("months", &labels(), &lines(&all))
        };
        assert!(table(&["2011 201101-201112 12 3,200", "2012 201201-201212 12"]).is_none(), "a short row");
        assert!(table(&["2011 201101-201112 12 3,200", "2011 201101-201112 12 3,200"]).is_none(), "a year twice");
        assert!(table(&["2011 201101-201112 14 3,200"]).is_none(), "more than twelve months in a year");
        assert!(table(&["2011 201101-201112 十二 3,200"]).is_none(), "months not a number");
        assert!(table(&["合计 240"]).is_none(), "no year's row at all");
        assert!(months_from_yearly_table("months", &labels(), &lines(&["缴费月数 12", "2011 12"])).is_none(), "no year column");
    }
}
