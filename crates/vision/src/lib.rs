//! onewindow's eyes: text detection and recognition on page images with the PP-OCR networks, run by candle.
//!
//! The networks come as a graph of operators and a file of weights (see `tools/prepare_models.py`); [`graph`]
//! runs them with candle's tensors, except the depthwise convolutions that dominate PP-OCR, which
//! [`kernels`] computes directly (candle runs a grouped convolution one group at a time). [`image`] holds
//! the resampling, [`geometry`] the detector's box extraction and the crop of each text line, [`ocr`] the
//! whole pipeline with CTC decoding. The crate is built at opt-level 3 even in debug builds.

pub mod fuse;
pub mod geometry;
pub mod graph;
pub mod image;
pub mod kernels;
pub mod ocr;

pub use image::RgbImage;
pub use ocr::{Ocr, OcrOptions, OverBudget, TextLine, Turn};
