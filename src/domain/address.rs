//! Whether two writings of an address name one place: 江苏省无锡市新吴区长江路21号 on a licence,
//! 新吴区长江路21号（一楼） on a form, 无锡市新吴区长江路21号（W1） as a report's sampling site.

use std::sync::LazyLock;

use regex::Regex;

use crate::understanding::normalize::halfwidth;

/// A street and its number: the Han run before 号 with its digits (长江路21号, 锡贤路15-3号).
static STREET_NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\p{Han}{2,30}?)\s*(\d+(?:-\d+)?)\s*号").expect("valid pattern"));
/// What an address names before its street: province, city, district, town, subdistrict, park.
static ADMIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r".*(?:省|自治区|市|区|县|镇|乡|街道|开发区|园区|工业园)").expect("valid pattern"));

/// The streets with numbers an address names, each as street + number without what comes before
/// the street ("梅村街道锡贤路15号" → "锡贤路15").
fn street_numbers(address: &str) -> Vec<String> {
    STREET_NUMBER
        .captures_iter(address)
        .map(|c| {
            let street = ADMIN.replace(&c[1], "").to_string();
            format!("{street}{}", &c[2])
        })
        .filter(|key| key.chars().next().is_some_and(|c| !c.is_ascii_digit()))
        .collect()
}

/// The address without spaces, brackets' contents or the province and city it opens with.
fn compact_place(address: &str) -> String {
    let text = halfwidth(address);
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            c if depth == 0 && !c.is_whitespace() => out.push(c),
            _ => {}
        }
    }
    let without_province = out.split_once('省').map_or(out.as_str(), |(_, rest)| rest).to_string();
    without_province.split_once('市').map_or(without_province.clone(), |(_, rest)| rest.to_string())
}

/// Text that names a place: a street with its number, or an administrative area (市, 区, 县, 镇,
/// 街道 …) before more text.
pub fn looks_like_address(text: &str) -> bool {
    let text = halfwidth(text);
    !street_numbers(&text).is_empty() || ADMIN.find(&text).is_some_and(|m| m.end() < text.len() && m.as_str().chars().count() >= 3)
}

/// The city (无锡市) and the district or county (新吴区, 江阴市 is a city) an address names, if it
/// names them: the two to four characters before 市 and 区/县.
fn areas(address: &str) -> (Option<String>, Option<String>) {
    static CITY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:省|^)\s*(\p{Han}{2,4}?市)").expect("valid pattern"));
    static DISTRICT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"市\s*(\p{Han}{2,4}?[区县])").expect("valid pattern"));
    let city = CITY.captures(address).map(|c| c[1].to_string());
    let district = DISTRICT.captures(address).map(|c| c[1].to_string());
    (city, district)
}

/// One place, written two ways: the same city and district where both name them, and then the
/// same street and number when both name one, else one address (without province, city and
/// bracketed notes) containing the other.
pub fn same_place(a: &str, b: &str) -> bool {
    let (a, b) = (halfwidth(a), halfwidth(b));
    let ((city_a, district_a), (city_b, district_b)) = (areas(&a), areas(&b));
    let differ = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if x != y);
    if differ(&city_a, &city_b) || differ(&district_a, &district_b) {
        return false;
    }
    let (ka, kb) = (street_numbers(&a), street_numbers(&b));
    if !ka.is_empty() && !kb.is_empty() {
        return ka.iter().any(|k| kb.contains(k));
    }
    let (ca, cb) = (compact_place(&a), compact_place(&b));
    !ca.is_empty() && !cb.is_empty() && (ca.contains(&cb) || cb.contains(&ca))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_place_in_several_writings() {
        assert!(same_place("江苏省无锡市新吴区长江路21号", "新吴区长江路21号（一楼）"));
        assert!(same_place("无锡市新吴区梅村街道锡贤路15号", "无锡市新吴区锡贤路15号（W1）"));
        assert!(same_place("无锡市新吴区长江路２１号", "无锡市 新吴区 长江路21号"), "widths and spaces");
        assert!(same_place("无锡市新吴区锡东花园二期工地", "江苏省无锡市新吴区锡东花园二期工地"), "no number: containment");
    }

    #[test]
    fn a_sampling_point_is_no_address() {
        assert!(looks_like_address("无锡市新吴区鸿山街道鸿昌路27号"));
        assert!(looks_like_address("新吴区锡东花园二期工地"));
        assert!(!looks_like_address("FS1排放口前检测井"));
        assert!(!looks_like_address("隔油池出水口(总排口)"));
    }

    #[test]
    fn another_place_is_not_the_same() {
        assert!(!same_place("无锡市新吴区长江路21号", "无锡市新吴区长江路12号"));
        assert!(!same_place("无锡市新吴区长江路21号", "苏州市工业园区星湖街21号"));
        // The same street and number in another city or district is another place.
        assert!(!same_place("苏州市姑苏区人民路100号", "无锡市梁溪区人民路100号"));
        assert!(!same_place("无锡市梁溪区人民路100号", "无锡市新吴区人民路100号"));
        assert!(!same_place("无锡市新吴区菱湖大道与和风路交叉口东南侧", "无锡市新吴区菱湖大道200号"));
        assert!(!same_place("", "无锡市新吴区长江路21号"));
    }
}
