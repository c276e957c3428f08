//! Domain types: codes, the application lifecycle and the decision. No I/O here.

pub mod application;
pub mod calendar;
pub mod credit_code;
pub mod decision;
pub mod id_number;
pub mod permit;
pub mod phone;
pub mod pii;
pub mod retirement;
pub mod user;
