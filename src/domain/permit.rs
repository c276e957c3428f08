//! Permits: numbers in the district's format and the validity period.

use chrono::{Datelike, Months, NaiveDate};

/// Fills a number template: `{year}`, `{seq}` and zero-padded `{seq:0N}`.
/// `新吴排水许字〔{year}〕第{seq:04}号`, 2026, 1 → `新吴排水许字〔2026〕第0001号`.
pub fn format_number(template: &str, year: i32, seq: i64) -> String {
    let mut out = template.replace("{year}", &year.to_string());
    while let Some(start) = out.find("{seq") {
        let Some(len) = out[start..].find('}') else { break };
        let spec = &out[start + 4..start + len];
        let width: usize = spec.strip_prefix(":0").and_then(|w| w.parse().ok()).unwrap_or(0);
        out.replace_range(start..start + len + 1, &format!("{seq:0width$}"));
    }
    out
}

/// The last day a permit issued on `from` for `years` years is valid: 2026-10-20 + 5 years → 2031-10-19.
pub fn valid_to(from: NaiveDate, years: u32) -> NaiveDate {
    let end = from.checked_add_months(Months::new(years * 12)).unwrap_or(from);
    end.pred_opt().unwrap_or(end)
}

pub fn year_of(date: NaiveDate) -> i32 {
    date.year()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_template() {
        assert_eq!(format_number("新吴排水许字〔{year}〕第{seq:04}号", 2026, 1), "新吴排水许字〔2026〕第0001号");
        assert_eq!(format_number("P-{year}-{seq}", 2027, 12345), "P-2027-12345");
    }

    #[test]
    fn five_years_end_the_day_before() {
        let from = NaiveDate::from_ymd_opt(2026, 10, 20).unwrap();
        assert_eq!(valid_to(from, 5), NaiveDate::from_ymd_opt(2031, 10, 19).unwrap());
        let leap = NaiveDate::from_ymd_opt(2028, 2, 29).unwrap();
        assert_eq!(valid_to(leap, 5), NaiveDate::from_ymd_opt(2033, 2, 27).unwrap());
    }
}
