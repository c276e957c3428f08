//! Text normalisation and typed value parsing shared by all field readers: width, dates, numbers, units.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

/// Folds full-width ASCII (Ａ-ｚ, ０-９, ：（）…) and the ideographic space to their half-width forms,
/// and the dash and subscript variants documents use, so one pattern matches every way of typing.
pub fn halfwidth(input: &str) -> String {
    input
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' | '\u{00A0}' => ' ',
            // Every other Unicode space (U+2002…U+200A, U+202F, U+205F) is a plain space too.
            c if c.is_whitespace() && c != '\n' && c != '\r' && c != '\t' => ' ',
            '—' | '–' | '−' | '‐' => '-',
            '〜' => '~',
            '₀'..='₉' => char::from_u32(c as u32 - '₀' as u32 + '0' as u32).unwrap_or(c),
            '【' => '[',
            '】' => ']',
            _ => c,
        })
        .collect()
}

/// The key used to compare names across documents: half-width, no whitespace, no brackets (a branch
/// is written 某公司（新吴分店） on one paper and 某公司新吴分店 on another), ASCII upper case.
pub fn name_key(input: &str) -> String {
    halfwidth(input)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '[' | ']' | '〔' | '〕'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Removes every whitespace character (for matching titles printed with letter spacing: 营 业 执 照).
pub fn compact(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace()).collect()
}

static DATE_YMD_CJK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?").unwrap());
static DATE_YMD_SEP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{4})\s*([-./])\s*(\d{1,2})\s*([-./])\s*(\d{1,2})").unwrap());
static DATE_COMPACT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|[^\d])(20\d{2})(\d{2})(\d{2})(?:[^\d]|$)").unwrap());
static DATE_HANZI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([〇零○一二三四五六七八九]{4})\s*年\s*([一二三四五六七八九十]{1,3})\s*月\s*([一二三四五六七八九十]{1,3})\s*日").unwrap()
});

fn hanzi_digit(c: char) -> Option<u32> {
    Some(match c {
        '〇' | '零' | '○' => 0,
        '一' => 1,
        '二' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

/// 十 → 10, 十二 → 12, 二十 → 20, 二十八 → 28, 三十一 → 31, 九 → 9.
fn hanzi_small_number(s: &str) -> Option<u32> {
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        [d] if *d != '十' => hanzi_digit(*d),
        ['十'] => Some(10),
        ['十', d] => Some(10 + hanzi_digit(*d)?),
        [t, '十'] => Some(hanzi_digit(*t)? * 10),
        [t, '十', d] => Some(hanzi_digit(*t)? * 10 + hanzi_digit(*d)?),
        _ => None,
    }
}

/// Every date in `text`, in order of appearance, in any of the ways documents write them:
/// 2026年10月8日, 2026-10-08, 2026.10.08, 2026/10/8, 20261008, 二〇二六年十月八日.
pub fn find_dates(text: &str) -> Vec<NaiveDate> {
    let text = halfwidth(text);
    let mut found: Vec<(usize, NaiveDate)> = Vec::new();
    let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
    let overlaps =
        |taken: &Vec<std::ops::Range<usize>>, r: &std::ops::Range<usize>| taken.iter().any(|t| t.start < r.end && r.start < t.end);
    for caps in DATE_YMD_CJK.captures_iter(&text) {
        let m = caps.get(0).unwrap();
        if let Some(date) = ymd(&caps[1], &caps[2], &caps[3]) {
            found.push((m.start(), date));
            taken.push(m.range());
        }
    }
    for caps in DATE_YMD_SEP.captures_iter(&text) {
        let m = caps.get(0).unwrap();
        // The same separator twice: 2026-10-08, not 2026-10/08.
        if caps[2] != caps[4] || overlaps(&taken, &m.range()) {
            continue;
        }
        if let Some(date) = ymd(&caps[1], &caps[3], &caps[5]) {
            found.push((m.start(), date));
            taken.push(m.range());
        }
    }
    for caps in DATE_HANZI.captures_iter(&text) {
        let m = caps.get(0).unwrap();
        let year: Option<u32> = caps[1].chars().map(hanzi_digit).try_fold(0, |acc, d| Some(acc * 10 + d?));
        let (Some(year), Some(month), Some(day)) = (year, hanzi_small_number(&caps[2]), hanzi_small_number(&caps[3])) else {
            continue;
        };
        if let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) {
            found.push((m.start(), date));
            taken.push(m.range());
        }
    }
    for caps in DATE_COMPACT.captures_iter(&text) {
        let m = caps.get(1).unwrap();
        let range = m.start()..caps.get(3).unwrap().end();
        if overlaps(&taken, &range) {
            continue;
        }
        if let Some(date) = ymd(&caps[1], &caps[2], &caps[3]) {
            found.push((range.start, date));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, d)| d).collect()
}

fn ymd(y: &str, m: &str, d: &str) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// Concentration units, folded to what the limits are written in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    MilligramPerLitre,
    MicrogramPerLitre,
    GramPerLitre,
    Celsius,
    Dimensionless,
    /// Most probable number (or colonies, 个) per litre: coliforms.
    CountPerLitre,
    /// Per 100 mL, as some laboratories count coliforms: ten times fewer than per litre.
    CountPer100Millilitres,
}

impl Unit {
    /// Factor that turns a value in this unit into the canonical unit (mg/L for concentrations).
    pub fn to_canonical(self) -> f64 {
        match self {
            Unit::MicrogramPerLitre => 0.001,
            Unit::GramPerLitre => 1000.0,
            Unit::CountPer100Millilitres => 10.0,
            _ => 1.0,
        }
    }
}

static UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)((?:MPN|个|CFU)\s*/\s*100\s*m[lL]|(?:MPN|个|CFU)\s*/\s*L|mg\s*/\s*l|毫克\s*/\s*升|毫克每升|[μµu]g\s*/\s*l|微克\s*/\s*升|(?:^|[^mµμu])g\s*/\s*l|克\s*/\s*升|℃|°\s*c|摄氏度|无量纲)",
    )
    .unwrap()
});

/// The first unit written in `text`, with its byte range.
pub fn find_unit(text: &str) -> Option<(Unit, std::ops::Range<usize>)> {
    let m = UNIT.find(text)?;
    let s = m.as_str().to_lowercase();
    let unit = if s.contains("100") {
        Unit::CountPer100Millilitres
    } else if s.contains("mpn") || s.contains('个') || s.contains("cfu") {
        Unit::CountPerLitre
    } else if s.contains("mg") || s.contains("毫克") {
        Unit::MilligramPerLitre
    } else if s.contains("μg") || s.contains("µg") || s.contains("ug") || s.contains("微克") {
        Unit::MicrogramPerLitre
    } else if s.contains('g') || s.contains('克') {
        Unit::GramPerLitre
    } else if s.contains('℃') || s.contains('°') || s.contains("摄氏") {
        Unit::Celsius
    } else {
        Unit::Dimensionless
    };
    Some((unit, m.range()))
}

/// A number in a results table cell, including the ways laboratories write non-detects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub value: f64,
    /// A range such as `6.5~9.5`: a limit column, never a result (`value` is its lower end).
    pub range: bool,
    /// Written as below the detection limit (`ND`, `未检出`, `<0.05`, `0.05L`): `value` is the limit or 0.
    pub below_detection: bool,
    /// The interval a limit written as one allows: `≤500` → 0..=500, `6.5~9.5` → 6.5..=9.5.
    pub allows: Option<(f64, f64)>,
    pub start: usize,
}

static MEASURED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // A hyphen joins a range only unspaced (6.5-9.5): "7.6 — 6.5~9.5" is a result, an empty
        // cell and a range (the dash folds to "-").
        r"(?i)(?P<range>\d+(?:\.\d+)?(?:\s*[~～至]\s*|-)\d+(?:\.\d+)?)",
        r"|(?P<le>≤\s*)(?P<limit>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*[×xX*]\s*10\s*\^?\s*(?P<lexp>[-⁻]?[0-9⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2}))?",
        r"|(?P<lt>[<＜]\s*)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)",
        r"(?:\s*[×xX*]\s*10\s*\^?\s*(?P<exp>[-⁻]?[0-9⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2})|[eE](?P<eexp>[+-]?\d{1,2}))?(?P<l>L)?",
        r"|(?P<nd>\bND\b|未检出|低于检出限)|(?P<empty>(?:^|\s)[-/—](?:\s|$))"
    ))
    .unwrap()
});

/// A number as laboratories write it: `1,200` (thousands separators), `2.2×10³` or `2.2×10^3`
/// (`times_ten`, superscript digits or plain), `1.3E+03` (`e`).
fn scaled(mantissa: &str, times_ten: Option<&str>, e: Option<&str>) -> Option<f64> {
    let mantissa: f64 = mantissa.replace(',', "").parse().ok()?;
    let exponent: i32 = match (times_ten, e) {
        (Some(sup), _) => sup
            .chars()
            .map(|c| match c {
                '⁻' => '-',
                '⁰' => '0',
                '¹' => '1',
                '²' => '2',
                '³' => '3',
                '⁴'..='⁹' => char::from_u32(c as u32 - '⁴' as u32 + '4' as u32).unwrap_or(c),
                c => c,
            })
            .collect::<String>()
            .parse()
            .ok()?,
        (None, Some(e)) => e.parse().ok()?,
        (None, None) => 0,
    };
    let value = mantissa * 10f64.powi(exponent);
    value.is_finite().then_some(value)
}

/// A number stands alone in its cell: not part of a chemical name (1,4-苯二胺) or a code (HJ828).
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    // Prose connects a value with 为/是/约/达 (化学需氧量为196毫克/升).
    let before_ok =
        before.is_none_or(|c| c.is_whitespace() || matches!(c, ':' | '(' | '[' | '=' | '|' | '：' | '（' | '为' | '是' | '约' | '达'));
    let after_ok = after.is_none_or(|c| {
        c.is_whitespace()
            || matches!(c, ')' | ']' | ';' | '|' | '。' | '，' | '；' | '）' | '(' | '（')
            // A comma ends a value unless a digit follows (1,4-苯二胺; 1,200): full-width commas
            // are folded to ASCII, so prose writes "pH值为7.2,标准限值6~9".
            || (c == ',' && !text[end + 1..].starts_with(|d: char| d.is_ascii_digit()))
            || (!c.is_ascii() && !matches!(c, '-' | '·'))
    });
    before_ok && after_ok
}

/// Numeric tokens of a table row in order: results, non-detects, limits (ranges such as `6.5~9.5`
/// and `≤500`) and empty cells (`—`, `/`), so that a token's position matches the header's columns.
pub fn measured_values(text: &str) -> Vec<Measured> {
    let mut out = Vec::new();
    for caps in MEASURED.captures_iter(text) {
        let whole = caps.get(0).unwrap();
        let start = whole.start();
        if caps.name("empty").is_some() {
            out.push(Measured { value: f64::NAN, range: true, below_detection: false, allows: None, start });
            continue;
        }
        if !stands_alone(text, whole.start(), whole.end()) {
            continue;
        }
        if let Some(range) = caps.name("range") {
            let mut ends = range.as_str().split(['~', '～', '至', '-']).map(|s| s.trim().parse::<f64>().ok());
            let (low, high) = (ends.next().flatten(), ends.next_back().flatten());
            let allows = low.zip(high).filter(|(low, high)| low <= high);
            out.push(Measured { value: low.unwrap_or(0.0), range: true, below_detection: false, allows, start });
            continue;
        }
        if let Some(limit) = caps.name("limit") {
            let value = scaled(limit.as_str(), caps.name("lexp").map(|m| m.as_str()), None).unwrap_or(f64::NAN);
            let allows = value.is_finite().then_some((0.0, value));
            out.push(Measured { value, range: true, below_detection: false, allows, start });
            continue;
        }
        if caps.name("nd").is_some() {
            out.push(Measured { value: 0.0, range: false, below_detection: true, allows: None, start });
            continue;
        }
        let Some(num) = caps.name("num") else { continue };
        let Some(value) = scaled(num.as_str(), caps.name("exp").map(|m| m.as_str()), caps.name("eexp").map(|m| m.as_str())) else {
            continue;
        };
        let below = caps.name("lt").is_some() || caps.name("l").is_some();
        out.push(Measured { value, range: false, below_detection: below, allows: None, start });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn halfwidth_folds_punctuation_digits_and_subscripts() {
        assert_eq!(halfwidth("名称：张记（个体）ＣＯＤ１２３"), "名称:张记(个体)COD123");
        assert_eq!(halfwidth("NH₃－N"), "NH3-N");
        assert_eq!(name_key(" 无锡市 新吴区张记餐饮店（个体） "), "无锡市新吴区张记餐饮店个体");
        assert_eq!(name_key("无锡味道餐饮管理有限公司（新吴分店）"), name_key("无锡味道餐饮管理有限公司新吴分店"));
    }

    #[test]
    fn dates_in_every_common_writing() {
        assert_eq!(find_dates("采样日期：2026年10月8日"), vec![d(2026, 10, 8)]);
        assert_eq!(find_dates("2026-10-08"), vec![d(2026, 10, 8)]);
        assert_eq!(find_dates("2026.10.08 至 2026/10/9"), vec![d(2026, 10, 8), d(2026, 10, 9)]);
        assert_eq!(find_dates("二〇二六年十月二十八日"), vec![d(2026, 10, 28)]);
        assert_eq!(find_dates("报告日期 20261008 "), vec![d(2026, 10, 8)]);
        assert_eq!(find_dates("２０２６年１１月３日"), vec![d(2026, 11, 3)]);
        assert!(find_dates("2026-02-30").is_empty(), "not a real date");
        assert!(find_dates("2026-10/08").is_empty(), "mixed separators");
    }

    #[test]
    fn units_in_every_common_writing() {
        for (text, unit) in [
            ("mg/L", Unit::MilligramPerLitre),
            ("mg/l", Unit::MilligramPerLitre),
            ("毫克/升", Unit::MilligramPerLitre),
            ("μg/L", Unit::MicrogramPerLitre),
            ("ug/l", Unit::MicrogramPerLitre),
            (" g/L", Unit::GramPerLitre),
            ("℃", Unit::Celsius),
            ("无量纲", Unit::Dimensionless),
            ("MPN/L", Unit::CountPerLitre),
            ("个/L", Unit::CountPerLitre),
            ("MPN/100mL", Unit::CountPer100Millilitres),
        ] {
            assert_eq!(find_unit(text).map(|(u, _)| u), Some(unit), "{text}");
        }
    }

    #[test]
    fn measured_values_flag_ranges_and_read_non_detects() {
        let values = measured_values(" 6.5~9.5 7.2 ");
        assert_eq!(values.iter().map(|m| (m.value, m.range)).collect::<Vec<_>>(), vec![(6.5, true), (7.2, false)]);
        let values = measured_values("ND 0.05L <0.1 12");
        assert_eq!(
            values.iter().map(|m| (m.value, m.below_detection)).collect::<Vec<_>>(),
            vec![(0.0, true), (0.05, true), (0.1, true), (12.0, false)]
        );
        let values = measured_values("N,N-二乙基-1,4-苯二胺 — 3.6 ≤8 6.5-9.5");
        assert_eq!(values.iter().map(|m| m.range).collect::<Vec<_>>(), vec![true, false, true, true], "{values:?}");
        assert_eq!(values[1].value, 3.6);
        assert_eq!(values.iter().map(|m| m.allows).collect::<Vec<_>>(), vec![None, None, Some((0.0, 8.0)), Some((6.5, 9.5))]);
        // Prose puts a comma straight after a value; a comma before a digit is part of a number.
        assert_eq!(measured_values("为7.2,标准").iter().map(|m| m.value).collect::<Vec<_>>(), vec![7.2]);
        assert!(measured_values("1,200").iter().all(|m| m.value != 1.0));
        // An empty cell between a result and a range: the dash folded to "-" joins no range.
        let values = measured_values(&halfwidth("7.4 7.5 7.6 — 6.5~9.5"));
        assert_eq!(values.iter().map(|m| m.range).collect::<Vec<_>>(), vec![false, false, false, true, true], "{values:?}");
        assert_eq!(values[4].allows, Some((6.5, 9.5)));
    }

    #[test]
    fn numbers_in_scientific_and_grouped_notation() {
        let values = |text: &str| measured_values(text).iter().map(|m| (m.value, m.below_detection)).collect::<Vec<_>>();
        assert_eq!(values("2.2×10³"), vec![(2200.0, false)]);
        assert_eq!(values("2.2×10^3 MPN/L"), vec![(2200.0, false)]);
        assert_eq!(values("1.3E+03"), vec![(1300.0, false)]);
        assert_eq!(values("5.0e-2"), vec![(0.05, false)]);
        assert_eq!(values("1,200 2,345.5"), vec![(1200.0, false), (2345.5, false)]);
        assert_eq!(values("<2×10²"), vec![(200.0, true)]);
        assert_eq!(measured_values("≤5×10³")[0].allows, Some((0.0, 5000.0)));
        assert_eq!(values("低于检出限"), vec![(0.0, true)]);
        // A chemical name's locants stay out: 1,4-苯二胺 carries no value.
        assert!(measured_values("N,N-二乙基-1,4-苯二胺").iter().all(|m| m.range));
    }
}
