//! The one integration-test binary: a module per feature, sharing `helpers`.

mod access;
mod applications;
mod audit;
mod bad_input;
mod certificate;
mod corpus;
mod deadlines;
mod decide_cli;
mod e2e;
mod encoder;
mod fixtures;
mod flexible;
mod hardening;
mod helpers;
mod instances;
mod load;
mod metrics;
mod pages;
mod personal;
mod photos;
mod ratings;
mod restart;
mod retirement;
mod review;
mod rules;
mod tidy;
