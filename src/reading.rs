//! Reading: uploaded bytes → text lines with page and confidence. Owns file-type sniffing and limits.
//!
//! Reading is the only stage that touches hostile bytes, so each format reader must turn every failure
//! (corrupt, encrypted, empty, too large, too slow) into an unreadable document with a reason, never an
//! error that stops the application.

pub mod pdf;
pub mod pdf_fallback;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

    /// Formats the service accepts at upload (images are stored now and read once OCR is in place).
    pub fn is_accepted(self) -> bool {
        !matches!(self, Format::Unknown)
    }
}

/// One line of text as read, with where it came from and how sure the reader is of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextLine {
    pub page: u32,
    pub text: String,
    pub confidence: f64,
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
}

impl ReadOutcome {
    pub fn unreadable(format: Format, reason: impl Into<String>) -> Self {
        Self { format, method: "none".into(), lines: Vec::new(), unreadable: Some(reason.into()), system_error: None }
    }

    pub fn is_readable(&self) -> bool {
        self.unreadable.is_none()
    }
}

/// Limits on what one reading may cost. Every limit is configurable (see `config`).
#[derive(Debug, Clone)]
pub struct ReadLimits {
    pub max_file_bytes: u64,
    pub pdf_timeout: Duration,
    /// Address-space limit of the isolated PDF reader process.
    pub pdf_memory_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self { max_file_bytes: 20 * 1024 * 1024, pdf_timeout: Duration::from_secs(10), pdf_memory_bytes: 1024 * 1024 * 1024 }
    }
}

/// The reading stage: dispatches on the sniffed format.
#[derive(Debug, Clone)]
pub struct Reader {
    limits: ReadLimits,
    pdf: pdf::IsolatedPdfReader,
}

impl Reader {
    /// `helper_exe` is this project's own binary, which reads PDFs in a child process (`__read-pdf`).
    pub fn new(limits: ReadLimits, helper_exe: PathBuf) -> Self {
        let pdf = pdf::IsolatedPdfReader::new(helper_exe, limits.pdf_timeout, limits.pdf_memory_bytes);
        Self { limits, pdf }
    }

    pub fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    /// Reads one document. Never fails: every problem becomes an unreadable outcome with a reason.
    pub fn read(&self, bytes: &[u8]) -> ReadOutcome {
        let format = Format::sniff(bytes);
        if bytes.is_empty() {
            return ReadOutcome::unreadable(format, "空文件（0字节）");
        }
        if bytes.len() as u64 > self.limits.max_file_bytes {
            return ReadOutcome::unreadable(
                format,
                format!("文件大小{}字节，超过单个文件上限{}字节", bytes.len(), self.limits.max_file_bytes),
            );
        }
        match format {
            Format::Pdf => self.pdf.read(bytes),
            Format::Jpeg | Format::Png => ReadOutcome::unreadable(format, "图片材料需文字识别（OCR），本版本尚未启用，请上传带文字层的PDF"),
            Format::Unknown => ReadOutcome::unreadable(format, "不支持的文件类型（仅接受PDF、JPEG、PNG）"),
        }
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
