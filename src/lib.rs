//! onewindow (一窗): AI-assisted permit approval. Everything a test needs lives in this library;
//! `main.rs` only parses the command line.

pub mod app;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deadlines;
pub mod decision;
pub mod domain;
pub mod fuzz;
pub mod http;
pub mod inference;
pub mod issuance;
pub mod load;
pub mod models;
pub mod pipeline;
pub mod reading;
pub mod replay;
pub mod rules;
pub mod storage;
pub mod telemetry;
pub mod train;
pub mod understanding;
pub mod usecases;
pub mod web;
pub mod worker;
