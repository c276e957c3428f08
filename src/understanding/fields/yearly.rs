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

static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(19[5-9][0-9]|20[0-9][0-9])年?$").unwrap());
/// A cell that starts like a year (2013(补缴), 2013年度): a year's row the reader does not
/// understand, never the end of the table.
static YEAR_LIKE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:19|20)[0-9]{2}").unwrap());
/// A year and month inside a span cell: 201103, 2011.3, 2011年03月, 20110301.
static YEAR_MONTH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(19[0-9]{2}|20[0-9]{2})[年./]?(1[0-2]|0?[1-9])(?:月|[./]?[0-9]{2}日?)?").unwrap());
/// Cells saying a month was not paid in its time.
static NOT_PAID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"欠缴|未缴|缓缴|补缴|中断|暂停").unwrap());
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
    // Months in arrears or made up later, anywhere on the record: the rows' counts are not the
    // months paid.
    if lines.iter().any(|l| NOT_PAID.is_match(&l.text)) {
        return None;
    }
    let start = cells.iter().position(|row| is_header(row).is_some())?;
    let header = cells[start].clone();
    let (year_col, months_col) = is_header(&header)?;
    let mut years: Vec<u32> = Vec::new();
    let mut total = 0u32;
    let mut confidence = 1.0f64;
    let mut last = start;
    let mut end = cells.len();
    for (idx, row) in cells.iter().enumerate().skip(start + 1) {
        if row.is_empty() || *row == header || PAGE_MARK.is_match(&lines[idx].text) {
            continue;
        }
        let Some(year) = row.get(year_col).and_then(|c| YEAR.captures(c)).and_then(|c| c[1].parse::<u32>().ok()) else {
            if row.get(year_col).is_some_and(|c| YEAR_LIKE.is_match(c)) {
                return None;
            }
            end = idx;
            break;
        };
        let months = row.get(months_col).and_then(|c| c.trim_end_matches("个月").trim_end_matches('月').parse::<u32>().ok());
        // A cell naming two months (201103-201112) is the year's span and must agree with its
        // count; a cell of several year-like numbers that does not read so is not understood.
        let span_agrees = |m: u32| {
            row.iter().filter(|c| c.matches(|ch: char| ch.is_ascii_digit()).count() >= 8).all(|c| {
                let ends: Vec<(i64, i64)> =
                    YEAR_MONTH.captures_iter(c).map(|s| (s[1].parse::<i64>().unwrap_or(0), s[2].parse::<i64>().unwrap_or(0))).collect();
                let year = i64::from(year);
                matches!(ends.as_slice(), [(y1, m1), (y2, m2)] if *y1 == year && *y2 == year && m2 - m1 + 1 == i64::from(m))
            })
        };
        match months {
            Some(m @ 1..=12) if row.len() == header.len() && !years.contains(&year) && span_agrees(m) => {
                years.push(year);
                total += m;
                confidence = confidence.min(lines[idx].confidence);
                last = idx;
            }
            _ => return None,
        }
    }
    // Past the table's end: another table of the same shape (a second insurance, or the rows of
    // another person) or a year's row that is no longer lined up, and the sum is not the record's.
    if cells[end..]
        .iter()
        .any(|row| is_header(row).is_some() || (row.len() == header.len() && row.get(year_col).is_some_and(|c| YEAR_LIKE.is_match(c))))
    {
        return None;
    }
    let (first, final_year) = (years.iter().min()?, years.iter().max()?);
    let line = &lines[last];
    let mut field = ExtractedField::from_line(path, json!(f64::from(total)), CONF_YEARLY_SUM * confidence, line);
    field.note = Some(format!("按年度缴费明细合计：{first}—{final_year} 年，{} 行，共 {total} 个月", years.len()));
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::super::tests::lines;
    use super::*;

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
        assert!(table(&["2011 201101-201112 11 3,200"]).is_none(), "a span that disagrees with its count");
        assert!(table(&["2011 201101-201112 12 欠缴"]).is_none(), "months in arrears");
        assert!(table(&["2011 2011.1-2011.12 11 3,200"]).is_none(), "a dotted span that disagrees");
        assert!(table(&["2011 2011年01月-2011年12月 12 3,200"]).is_some(), "a written span that agrees");
        assert!(
            table(&["2011 20110101-20111231 12 3,200", "2012(补) 20120101-20121231 12 3,500"]).is_none(),
            "a year's row not understood"
        );
        assert!(table(&["2011 201101-201112 12 3,200", "注：2012年3-5月欠缴"]).is_none(), "arrears in a footnote");
        assert!(table(&["2011 201101-201112 12 3,200", "打印日期 2026-01-05"]).is_some(), "a date after the table ends it");
        assert!(
            table(&["2011 201101-201112 12 3,200", "医疗保险缴费明细", "年度 起止年月 缴费月数 缴费基数", "2012 201201-201212 12 3,500"])
                .is_none(),
            "a second table after the first"
        );
    }
}
