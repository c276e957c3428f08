//! Working days: deadlines count working days, skipping weekends and statutory holidays, and
//! counting the weekend days made working days (调休). The calendar itself is data in `rules/`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    #[serde(default)]
    pub years: BTreeMap<String, CalendarYear>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarYear {
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    #[serde(default)]
    pub workdays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, Default)]
pub struct WorkCalendar {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    pub fn new(file: &CalendarFile) -> Self {
        let mut calendar = Self::default();
        for year in file.years.values() {
            calendar.holidays.extend(year.holidays.iter().copied());
            calendar.workdays.extend(year.workdays.iter().copied());
        }
        calendar
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.workdays.contains(&date) {
            return true;
        }
        if self.holidays.contains(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The date `n` working days after `start`, counting from the next day (the day of acceptance
    /// does not count).
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut date = start;
        let mut counted = 0;
        while counted < n {
            date = date.succ_opt().unwrap_or(date);
            if self.is_working_day(date) {
                counted += 1;
            }
        }
        date
    }

    /// Working days in `(from, to]`; 0 when `to` is not after `from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut date = from;
        let mut counted = 0;
        while date < to {
            date = date.succ_opt().unwrap_or(to);
            if self.is_working_day(date) {
                counted += 1;
            }
        }
        counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn calendar() -> WorkCalendar {
        let mut file = CalendarFile::default();
        file.years.insert(
            "2026".into(),
            CalendarYear { holidays: (1..=7).map(|day| d(2026, 10, day)).collect(), workdays: vec![d(2026, 10, 10)] },
        );
        WorkCalendar::new(&file)
    }

    #[test]
    fn weekends_and_holidays_do_not_count_adjusted_saturdays_do() {
        let c = calendar();
        assert!(c.is_working_day(d(2026, 9, 30)));
        assert!(!c.is_working_day(d(2026, 10, 5)), "national day holiday, a Monday");
        assert!(c.is_working_day(d(2026, 10, 10)), "an adjusted Saturday");
        assert!(!c.is_working_day(d(2026, 10, 11)), "an ordinary Sunday");
        // Accepted on Wednesday 30 September: 1 working day later is Thursday 8 October.
        assert_eq!(c.add_working_days(d(2026, 9, 30), 1), d(2026, 10, 8));
        // 15 working days from Tuesday 20 October: 10 November.
        assert_eq!(c.add_working_days(d(2026, 10, 20), 15), d(2026, 11, 10));
        assert_eq!(c.working_days_between(d(2026, 9, 30), d(2026, 10, 12)), 4);
        assert_eq!(c.working_days_between(d(2026, 10, 12), d(2026, 10, 12)), 0);
    }
}
