//! Time as the service sees it: a trait so tests can fix the date that date rules depend on.

use chrono::{FixedOffset, NaiveDate, Utc};

pub trait Clock: Send + Sync + 'static {
    /// Today's date where the service centre is (China Standard Time, UTC+8).
    fn today(&self) -> NaiveDate;
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn today(&self) -> NaiveDate {
        let china = FixedOffset::east_opt(8 * 3600).expect("valid offset");
        Utc::now().with_timezone(&china).date_naive()
    }

    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// A clock whose date is fixed; time still runs, so job leases behave.
#[derive(Debug)]
pub struct FixedDateClock(pub NaiveDate);

impl Clock for FixedDateClock {
    fn today(&self) -> NaiveDate {
        self.0
    }

    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// A clock tests move by hand: a fixed date and a millisecond offset added to real time, so leases
/// can be shown to expire without waiting.
#[derive(Debug)]
pub struct ManualClock {
    today: std::sync::Mutex<NaiveDate>,
    offset_ms: std::sync::atomic::AtomicI64,
}

impl ManualClock {
    pub fn new(today: NaiveDate) -> Self {
        Self { today: std::sync::Mutex::new(today), offset_ms: std::sync::atomic::AtomicI64::new(0) }
    }

    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn set_today(&self, today: NaiveDate) {
        *self.today.lock().unwrap_or_else(|e| e.into_inner()) = today;
    }
}

impl Clock for ManualClock {
    fn today(&self) -> NaiveDate {
        *self.today.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis() + self.offset_ms.load(std::sync::atomic::Ordering::SeqCst)
    }
}
