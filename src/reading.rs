//! Reading: uploaded bytes → text lines with page and confidence. Owns file-type sniffing and limits.
//!
//! Reading is the only stage that touches hostile bytes, so each format reader must turn every failure
//! (corrupt, encrypted, empty, too large, too slow) into an unreadable document with a reason, never an
//! error that stops the application.

pub mod image;
pub mod layout;
pub mod pdf;
pub mod pdf_fallback;
pub mod pdf_images;
pub mod pdf_repair;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::inference::Ocr;

/// What a file is, judged by its first bytes, never by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pdf,
    Jpeg,
    Png,
    Unknown,
}

impl Format {
    pub fn sniff(bytes: &[u8]) -> Self {
        // A PDF header may follow a little junk (the spec allows it within the first 1024 bytes).
        let head = &bytes[..bytes.len().min(1024)];
        if head.windows(5).any(|w| w == b"%PDF-") {
            Format::Pdf
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Format::Jpeg
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Format::Png
        } else {
            Format::Unknown
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Unknown => "unknown",
        }
    }

    /// Formats the service accepts at upload.
    pub fn is_accepted(self) -> bool {
        !matches!(self, Format::Unknown)
    }
}

/// The read stage's hand-off for one file: its name, its bytes' SHA-256 and what was read.
#[derive(Debug, Clone)]
pub struct ReadDocument {
    pub file: String,
    pub sha256: String,
    pub read: ReadOutcome,
}

/// One line of text as read, with where it came from and how sure the reader is of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextLine {
    pub page: u32,
    pub text: String,
    /// How sure the reader is of the whole line (for OCR: of its least sure piece).
    pub confidence: f64,
    /// OCR only: the separately recognised pieces the line was joined from, so that a value is as
    /// sure as the pieces it was read from, not as the least sure cell of its row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pieces: Vec<Piece>,
}

/// A piece of a line: characters `start..end` (counted in chars) recognised with `confidence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    pub start: usize,
    pub end: usize,
    pub confidence: f64,
}

impl TextLine {
    pub fn new(page: u32, text: impl Into<String>, confidence: f64) -> Self {
        Self { page, text: text.into(), confidence, pieces: Vec::new() }
    }

    /// The confidence of what stands in bytes `range` of `text`, which is this line's text or a
    /// char-for-char normalisation of it: the least sure piece overlapping the range, or the line's
    /// own confidence when it has no pieces.
    pub fn confidence_in(&self, text: &str, range: std::ops::Range<usize>) -> f64 {
        if self.pieces.is_empty() || range.start >= range.end || range.end > text.len() {
            return self.confidence;
        }
        let (Some(before), Some(inside)) = (text.get(..range.start), text.get(range)) else { return self.confidence };
        let start = before.chars().count();
        let end = start + inside.chars().count();
        self.pieces.iter().filter(|p| p.start < end && p.end > start).map(|p| p.confidence).reduce(f64::min).unwrap_or(self.confidence)
    }
}

/// The result of reading one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadOutcome {
    pub format: Format,
    /// Which reader produced the text (`pdf-extract`, `pdf-fallback`), or why none did.
    pub method: String,
    pub lines: Vec<TextLine>,
    /// Why the document could not be read; `None` when it was.
    pub unreadable: Option<String>,
    /// The machine failed, not the document (the reader process could not start): the decision must
    /// be retried, never made on this outcome.
    #[serde(skip)]
    pub system_error: Option<String>,
    /// A scanned PDF's page images, taken out by the PDF reader for OCR.
    #[serde(skip)]
    pub page_images: Vec<PageImage>,
}

/// One page image of a scanned PDF.
#[derive(Debug, Clone, PartialEq)]
pub struct PageImage {
    pub page: u32,
    pub format: Format,
    pub bytes: Vec<u8>,
}

impl ReadOutcome {
    pub fn unreadable(format: Format, reason: impl Into<String>) -> Self {
        Self {
            format,
            method: "none".into(),
            lines: Vec::new(),
            unreadable: Some(reason.into()),
            system_error: None,
            page_images: Vec::new(),
        }
    }

    pub fn is_readable(&self) -> bool {
        self.unreadable.is_none()
    }
}

/// The reading limits' defaults, written once: `config` offers each as a flag with this default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
pub const DEFAULT_PDF_TIMEOUT_SECS: u64 = 10;
/// Five minutes for all of an application's documents: a real one (a few text PDFs, a photo or two,
/// a scan of some pages) reads in seconds; forty 30-page scans at the per-page OCR budget would
/// hold a worker for hours.
pub const DEFAULT_APPLICATION_READ_BUDGET_SECS: u64 = 300;

/// The application's reading budget ran out before this document was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;
pub const DEFAULT_PDF_MEMORY_MIB: u64 = 1024;

/// Limits on what one reading may cost. Every limit is configurable (see `config`).
#[derive(Debug, Clone)]
pub struct ReadLimits {
    pub max_file_bytes: u64,
    pub pdf_timeout: Duration,
    /// Time for all of one application's documents ([`Reader::read_within`]'s deadline).
    pub application_budget: Duration,
    /// Address-space limit of the isolated PDF reader process.
    pub pdf_memory_bytes: u64,
    pub image: image::ImageLimits,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            pdf_timeout: Duration::from_secs(DEFAULT_PDF_TIMEOUT_SECS),
            application_budget: Duration::from_secs(DEFAULT_APPLICATION_READ_BUDGET_SECS),
            pdf_memory_bytes: DEFAULT_PDF_MEMORY_MIB * 1024 * 1024,
            image: image::ImageLimits::default(),
        }
    }
}

/// The reading stage: dispatches on the sniffed format.
#[derive(Clone)]
pub struct Reader {
    limits: ReadLimits,
    pdf: pdf::IsolatedPdfReader,
    ocr: Option<Arc<dyn Ocr>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("limits", &self.limits).field("ocr", &self.ocr.as_ref().map(|o| o.digests())).finish()
    }
}

impl Reader {
    /// `helper_exe` is this project's own binary, which reads PDFs in a child process (`__read-pdf`).
    pub fn new(limits: ReadLimits, helper_exe: PathBuf) -> Self {
        let pdf = pdf::IsolatedPdfReader::new(helper_exe, limits.pdf_timeout, limits.pdf_memory_bytes);
        Self { limits, pdf, ocr: None }
    }

    /// Read photos and scans with this OCR (without one, images are unreadable).
    pub fn with_ocr(mut self, ocr: Arc<dyn Ocr>) -> Self {
        self.ocr = Some(ocr);
        self
    }

    /// `role → sha256:…` of the OCR models, recorded in each decision.
    pub fn model_digests(&self) -> BTreeMap<String, String> {
        self.ocr.as_ref().map(|o| o.digests()).unwrap_or_default()
    }

    pub fn has_ocr(&self) -> bool {
        self.ocr.is_some()
    }

    pub fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    /// Reads one document. Never fails: every problem becomes an unreadable outcome with a reason.
    pub fn read(&self, bytes: &[u8]) -> ReadOutcome {
        self.read_within(bytes, None).unwrap_or_else(|OverBudget| ReadOutcome::unreadable(Format::sniff(bytes), "超出读取时限"))
    }

    /// [`Reader::read`] under an application's deadline, checked before the document and before
    /// each page's OCR: past it, the document is not read at all (the case is not decided on part
    /// of its materials).
    pub fn read_within(&self, bytes: &[u8], deadline: Option<std::time::Instant>) -> Result<ReadOutcome, OverBudget> {
        let over = || deadline.is_some_and(|d| std::time::Instant::now() > d);
        if over() {
            return Err(OverBudget);
        }
        let format = Format::sniff(bytes);
        if bytes.is_empty() {
            return Ok(ReadOutcome::unreadable(format, "空文件（0字节）"));
        }
        if bytes.len() as u64 > self.limits.max_file_bytes {
            return Ok(ReadOutcome::unreadable(
                format,
                format!("文件大小{}字节，超过单个文件上限{}字节", bytes.len(), self.limits.max_file_bytes),
            ));
        }
        match format {
            Format::Pdf => {
                let mut outcome = self.pdf.read(bytes);
                let repaired = outcome.method.ends_with(pdf::REPAIRED);
                if !outcome.page_images.is_empty() {
                    let pages = std::mem::take(&mut outcome.page_images);
                    let stamps = std::mem::take(&mut outcome.lines);
                    outcome = self.read_pages(Format::Pdf, pages.iter().map(|p| (p.page, p.format, p.bytes.as_slice())), &over)?;
                    // A stamped scan's text layer (a page number, a file name) follows its page's
                    // OCR lines: the page's own words come first for whoever reads its opening.
                    if outcome.is_readable() && !stamps.is_empty() {
                        outcome.lines.extend(stamps);
                        outcome.lines.sort_by_key(|l| l.page);
                    }
                }
                if repaired {
                    pdf::mark_repaired(&mut outcome);
                }
                Ok(outcome)
            }
            Format::Jpeg | Format::Png => self.read_pages(format, std::iter::once((1, format, bytes)), &over),
            Format::Unknown => Ok(ReadOutcome::unreadable(format, "不支持的文件类型（仅接受PDF、JPEG、PNG）")),
        }
    }
}

impl Reader {
    /// OCR page images (a photo is one page, a scan one per page). Any page that cannot be read
    /// makes the document unreadable, with the page named: a decision never rests on part of a file.
    fn read_pages<'a>(
        &self,
        format: Format,
        pages: impl Iterator<Item = (u32, Format, &'a [u8])>,
        over: &dyn Fn() -> bool,
    ) -> Result<ReadOutcome, OverBudget> {
        let Some(ocr) = &self.ocr else {
            return Ok(ReadOutcome::unreadable(format, "图片与扫描件需文字识别（OCR），本服务未加载识别模型"));
        };
        let mut lines = Vec::new();
        for (page, page_format, bytes) in pages {
            if over() {
                return Err(OverBudget);
            }
            let result =
                image::decode(bytes, page_format, self.limits.image).and_then(|decoded| image::read_page(ocr.as_ref(), &decoded, page));
            match result {
                Ok(page_lines) => lines.extend(page_lines),
                Err(reason) if format == Format::Pdf => return Ok(ReadOutcome::unreadable(format, format!("扫描件第{page}页：{reason}"))),
                Err(reason) => return Ok(ReadOutcome::unreadable(format, reason)),
            }
        }
        if lines.is_empty() {
            return Ok(ReadOutcome::unreadable(format, "未识别到文字：请上传清晰、完整、方向正确的照片或扫描件"));
        }
        let method = if format == Format::Pdf { "ocr-scan" } else { "ocr" };
        Ok(ReadOutcome { format, method: method.into(), lines, unreadable: None, system_error: None, page_images: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(Format::sniff(b"%PDF-1.7\n..."), Format::Pdf);
        assert_eq!(Format::sniff(b"\xEF\xBB\xBF%PDF-1.4"), Format::Pdf);
        assert_eq!(Format::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Format::Jpeg);
        assert_eq!(Format::sniff(b"\x89PNG\r\n\x1a\n\0\0"), Format::Png);
        assert_eq!(Format::sniff(b"hello, I am a text file named .pdf"), Format::Unknown);
        assert_eq!(Format::sniff(b""), Format::Unknown);
    }

    #[test]
    fn empty_oversized_and_unknown_files_are_unreadable_with_reasons() {
        let limits = ReadLimits { max_file_bytes: 16, ..ReadLimits::default() };
        let reader = Reader::new(limits, PathBuf::from("/nonexistent"));
        assert!(reader.read(b"").unreadable.unwrap().contains("空文件"));
        assert!(reader.read(b"plain text, not a document").unreadable.unwrap().contains("超过"));
        assert!(reader.read(b"plain text").unreadable.unwrap().contains("不支持"));
    }
}
