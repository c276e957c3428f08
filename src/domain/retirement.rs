//! The statutory retirement age after the 2025 gradual increase, the minimum contribution by year,
//! and the early and late options. The parameters are data (`rules/tables/retirement.toml`).

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetirementTable {
    pub schemes: Vec<Scheme>,
    pub minimum_contribution: MinimumContribution,
    pub options: RetirementOptions,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    pub original_age: u32,
    pub sex: String,
    /// `YYYY-MM`: the first birth month whose age increases.
    pub from: String,
    pub step_months: u32,
    pub max_delay_months: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinimumContribution {
    pub base_months: u32,
    pub increase_from: i32,
    pub step_months_per_year: u32,
    pub max_months: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetirementOptions {
    pub max_early_months: u32,
    pub max_late_months: u32,
}

/// An age in whole years and months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Age {
    pub months: u32,
}

impl Age {
    pub fn years_months(self) -> (u32, u32) {
        (self.months / 12, self.months % 12)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetirementError {
    #[error("没有原法定退休年龄为{original_age}岁的{sex}的退休方案")]
    NoScheme { original_age: u32, sex: String },
    #[error("退休方案的起始月份{0}无效")]
    BadScheme(String),
}

/// First day of the month `months` after the birth month: 1965-01 + 60y1m → 2025-02-01.
fn month_after(birth: NaiveDate, months: u32) -> NaiveDate {
    let total = birth.year() * 12 + birth.month0() as i32 + months as i32;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap_or(birth)
}

impl RetirementTable {
    fn scheme(&self, sex: &str, original_age: u32) -> Result<&Scheme, RetirementError> {
        self.schemes
            .iter()
            .find(|s| s.sex == sex && s.original_age == original_age)
            .ok_or_else(|| RetirementError::NoScheme { original_age, sex: sex.to_string() })
    }

    /// The statutory retirement age for a person born on `birth`.
    pub fn statutory_age(&self, sex: &str, original_age: u32, birth: NaiveDate) -> Result<Age, RetirementError> {
        let scheme = self.scheme(sex, original_age)?;
        let from = NaiveDate::parse_from_str(&format!("{}-01", scheme.from), "%Y-%m-%d")
            .map_err(|_| RetirementError::BadScheme(scheme.from.clone()))?;
        let k = (birth.year() - from.year()) * 12 + birth.month0() as i32 - from.month0() as i32;
        let delay = if k < 0 { 0 } else { (k as u32 / scheme.step_months + 1).min(scheme.max_delay_months) };
        Ok(Age { months: original_age * 12 + delay })
    }

    /// The month a person reaches `age`, as its first day.
    pub fn reaches(&self, birth: NaiveDate, age: Age) -> NaiveDate {
        month_after(birth, age.months)
    }

    /// Months of contribution needed for a monthly pension when retiring in `year`.
    pub fn minimum_contribution_months(&self, year: i32) -> u32 {
        let m = &self.minimum_contribution;
        if year < m.increase_from {
            return m.base_months;
        }
        (m.base_months + m.step_months_per_year * (year - m.increase_from + 1) as u32).min(m.max_months)
    }

    /// The earliest age an early retirement may choose: up to the limit before the statutory age,
    /// never below the original age.
    pub fn earliest_age(&self, statutory: Age, original_age: u32) -> Age {
        Age { months: statutory.months.saturating_sub(self.options.max_early_months).max(original_age * 12) }
    }

    pub fn latest_age(&self, statutory: Age) -> Age {
        Age { months: statutory.months + self.options.max_late_months }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RetirementTable {
        toml::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/tables/retirement.toml")).unwrap()).unwrap()
    }

    fn d(y: i32, m: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, 15).unwrap()
    }

    #[test]
    fn the_worked_examples_of_domain_md() {
        let t = table();
        let age = t.statutory_age("male", 60, d(1965, 1)).unwrap();
        assert_eq!(age.years_months(), (60, 1));
        assert_eq!(t.reaches(d(1965, 1), age), NaiveDate::from_ymd_opt(2025, 2, 1).unwrap());
        assert_eq!(t.statutory_age("male", 60, d(1965, 5)).unwrap().years_months(), (60, 2));
        assert_eq!(t.statutory_age("male", 60, d(1976, 9)).unwrap().years_months(), (63, 0));
        assert_eq!(t.statutory_age("female", 50, d(1984, 11)).unwrap().years_months(), (55, 0));
    }

    #[test]
    fn both_sides_of_each_boundary() {
        let t = table();
        // Men: born before 1965 keep 60; the step changes every 4 months; the cap is 63.
        assert_eq!(t.statutory_age("male", 60, d(1964, 12)).unwrap().years_months(), (60, 0));
        assert_eq!(t.statutory_age("male", 60, d(1965, 4)).unwrap().years_months(), (60, 1));
        assert_eq!(t.statutory_age("male", 60, d(1976, 8)).unwrap().years_months(), (62, 11));
        assert_eq!(t.statutory_age("male", 60, d(1990, 1)).unwrap().years_months(), (63, 0));
        // Women from 55: from 1970-01.
        assert_eq!(t.statutory_age("female", 55, d(1969, 12)).unwrap().years_months(), (55, 0));
        assert_eq!(t.statutory_age("female", 55, d(1970, 1)).unwrap().years_months(), (55, 1));
        // Women from 50: from 1975-01, every 2 months, cap 55.
        assert_eq!(t.statutory_age("female", 50, d(1974, 12)).unwrap().years_months(), (50, 0));
        assert_eq!(t.statutory_age("female", 50, d(1975, 1)).unwrap().years_months(), (50, 1));
        assert_eq!(t.statutory_age("female", 50, d(1975, 3)).unwrap().years_months(), (50, 2));
        assert_eq!(t.statutory_age("female", 50, d(1984, 10)).unwrap().years_months(), (54, 11));
        assert_eq!(t.statutory_age("female", 50, d(1985, 6)).unwrap().years_months(), (55, 0));
        assert!(t.statutory_age("male", 55, d(1970, 1)).is_err());
    }

    #[test]
    fn minimum_contribution_rises_from_2030_to_twenty_years() {
        let t = table();
        assert_eq!(t.minimum_contribution_months(2029), 180);
        assert_eq!(t.minimum_contribution_months(2030), 186);
        assert_eq!(t.minimum_contribution_months(2039), 240);
        assert_eq!(t.minimum_contribution_months(2045), 240);
    }

    #[test]
    fn early_never_below_the_original_age_late_up_to_three_years() {
        let t = table();
        let statutory = t.statutory_age("male", 60, d(1966, 1)).unwrap(); // 60y4m
        assert_eq!(t.earliest_age(statutory, 60).years_months(), (60, 0));
        let statutory = t.statutory_age("male", 60, d(1980, 1)).unwrap(); // 63y
        assert_eq!(t.earliest_age(statutory, 60).years_months(), (60, 0));
        assert_eq!(t.latest_age(statutory).years_months(), (66, 0));
    }
}
