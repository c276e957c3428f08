//! PDF text reading, isolated in a child process with address-space and time limits.
//!
//! pdf-extract panics on many malformed files and on CJK fonts with predefined CMaps, and a small file
//! whose stream inflates to a gigabyte takes gigabytes of memory, so `catch_unwind` alone is not enough.
//! The parent runs this same binary as `onewindow __read-pdf`, feeds the bytes on stdin, and reads one
//! result record from stdout; a child that dies, overruns its memory or its time marks only that
//! document unreadable.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use base64::Engine as _;

use super::{layout, pdf_fallback, pdf_images, pdf_repair, Format, PageImage, ReadOutcome, TextLine};

/// Separates the result record from anything a library may have printed to stdout.
const RESULT_MARKER: &str = "\n@@onewindow-read-result@@";
/// Marks an error of the machine, not of the document.
const SYSTEM_ERROR_PREFIX: &str = "system: ";
/// The child's output is bounded so a runaway text layer cannot exhaust the parent.
const MAX_CHILD_OUTPUT_BYTES: u64 = 32 * 1024 * 1024;
/// Fewer visible characters than this per page means pdf-extract found no usable text layer.
const MIN_CHARS_PER_PAGE: usize = 4;
/// A PDF with page images and fewer visible characters than this per page in its text layer is a
/// scan with a stamp on it (a page number, a file name, a scanning app's mark): its images are read
/// too, and the stamp's lines are kept beside what they say. A text page has hundreds.
const SPARSE_CHARS_PER_PAGE: usize = 40;

/// Confidence of a line taken from a text layer: the characters are exact, but the reading order
/// and line breaks of a layout are reconstructed, so not quite 1.0.
const TEXT_LAYER_CONFIDENCE: f64 = 0.99;

/// Ends the method of a file read after its structure was rebuilt ([`pdf_repair`]).
pub const REPAIRED: &str = "+repaired";
/// The most a line of a rebuilt file is trusted: the rebuild finds what the file still holds, and a
/// cut or damaged file may have lost objects (part of a page, a page) that nothing can tell were
/// there. What it says is read, for the kind and for the reviewer, but no field of it is sure
/// enough for the machine to issue on (the services' field threshold is 0.90).
pub const REPAIRED_CONFIDENCE: f64 = 0.85;

/// Caps every line (and OCR piece) of a rebuilt file at [`REPAIRED_CONFIDENCE`], after any OCR of
/// its page images, and keeps the mark in the method.
pub fn mark_repaired(outcome: &mut ReadOutcome) {
    if !outcome.method.ends_with(REPAIRED) {
        outcome.method.push_str(REPAIRED);
    }
    for line in &mut outcome.lines {
        line.confidence = line.confidence.min(REPAIRED_CONFIDENCE);
        for piece in &mut line.pieces {
            piece.confidence = piece.confidence.min(REPAIRED_CONFIDENCE);
        }
    }
}

#[derive(Debug, Clone)]
pub struct IsolatedPdfReader {
    helper_exe: PathBuf,
    timeout: Duration,
    memory_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChildResult {
    method: String,
    pages: Vec<Vec<String>>,
    unreadable: Option<String>,
    /// A scan's page images (no text layer), for the parent to OCR.
    #[serde(default)]
    images: Vec<EncodedPageImage>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EncodedPageImage {
    page: u32,
    format: Format,
    base64: String,
}

/// Most pages of a scan that are OCR'd; a longer scan is unreadable rather than slow for everyone.
const MAX_SCAN_PAGES: usize = 30;

impl IsolatedPdfReader {
    pub fn new(helper_exe: PathBuf, timeout: Duration, memory_bytes: u64) -> Self {
        Self { helper_exe, timeout, memory_bytes }
    }

    pub fn read(&self, bytes: &[u8]) -> ReadOutcome {
        match self.run_child(bytes) {
            Ok(result) => to_outcome(result),
            Err(reason) => match reason.strip_prefix(SYSTEM_ERROR_PREFIX) {
                Some(system) => {
                    tracing::error!(error = %system, "pdf reader unavailable");
                    ReadOutcome {
                        system_error: Some(system.to_string()), ..ReadOutcome::unreadable(Format::Pdf, "系统暂时无法读取")
                    }
                }
                None => {
                    tracing::warn!(reason = %reason, "pdf reader child failed");
                    ReadOutcome::unreadable(Format::Pdf, reason)
                }
            },
        }
    }

    fn run_child(&self, bytes: &[u8]) -> Result<ChildResult, String> {
        let mut child = Command::new(&self.helper_exe)
            .arg("__read-pdf")
            .arg("--memory-bytes")
            .arg(self.memory_bytes.to_string())
            .arg("--cpu-seconds")
            .arg((self.timeout.as_secs() + 1).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{SYSTEM_ERROR_PREFIX}cannot start the pdf reader process: {e}"))?;

        let mut stdin = child.stdin.take().expect("stdin was piped");
        let input = bytes.to_vec();
        // The child may die before reading everything; a broken pipe here is reported by the result.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let mut stdout = child.stdout.take().expect("stdout was piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut output = Vec::new();
            let read = (&mut stdout).take(MAX_CHILD_OUTPUT_BYTES).read_to_end(&mut output);
            let _ = sender.send(read.map(|_| output));
        });

        let output = match receiver.recv_timeout(self.timeout) {
            Ok(output) => output,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(format!("读取超时（超过{}秒），文件可能已损坏或结构异常", self.timeout.as_secs()));
            }
        };
        let status = child.wait().map_err(|e| format!("PDF读取进程异常：{e}"))?;
        let _ = writer.join();
        let output = output.map_err(|e| format!("PDF读取进程输出异常：{e}"))?;
        let text = String::from_utf8_lossy(&output);
        let Some(at) = text.rfind(RESULT_MARKER) else {
            return Err(if status.success() {
                "PDF读取进程未给出结果".to_string()
            } else {
                // Killed by the address-space or CPU limit, or crashed.
                "文件无法解析（读取时超出资源限制或异常终止）".to_string()
            });
        };
        serde_json::from_str(text[at + RESULT_MARKER.len()..].trim()).map_err(|e| format!("PDF读取结果无法解析：{e}"))
    }
}

fn to_outcome(result: ChildResult) -> ReadOutcome {
    if let Some(reason) = result.unreadable {
        return ReadOutcome::unreadable(Format::Pdf, reason);
    }
    let lines = result
        .pages
        .into_iter()
        .enumerate()
        .flat_map(|(page_idx, lines)| lines.into_iter().map(move |text| TextLine::new(page_idx as u32 + 1, text, TEXT_LAYER_CONFIDENCE)))
        .collect();
    let mut page_images = Vec::with_capacity(result.images.len());
    for image in result.images {
        match base64::engine::general_purpose::STANDARD.decode(&image.base64) {
            Ok(bytes) => page_images.push(PageImage { page: image.page, format: image.format, bytes }),
            Err(_) => return ReadOutcome::unreadable(Format::Pdf, "扫描件图像提取失败"),
        }
    }
    ReadOutcome { format: Format::Pdf, method: result.method, lines, unreadable: None, system_error: None, page_images }
}

/// The child side: limits itself, reads stdin, extracts, prints the result record. Runs in its own
/// process; whatever happens here cannot reach the parent except as "unreadable".
pub fn run_child(memory_bytes: u64, cpu_seconds: u64) -> std::io::Result<()> {
    // Limits first, before the hostile bytes are even read.
    rlimit::setrlimit(rlimit::Resource::AS, memory_bytes, memory_bytes)?;
    rlimit::setrlimit(rlimit::Resource::CPU, cpu_seconds, cpu_seconds)?;
    std::panic::set_hook(Box::new(|_| {}));
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes)?;
    let result = extract(&bytes);
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{RESULT_MARKER}{}", serde_json::to_string(&result).expect("serialisable"))?;
    stdout.flush()
}

/// Glyphs kept for one page's layout; a document with a page of more is read by pdf-extract's own
/// text output instead (in content order), which needs no memory per glyph.
const MAX_PAGE_GLYPHS: usize = 200_000;

/// Every page's lines as pdf-extract's interpreter places its glyphs, laid out by position
/// ([`layout::page_lines`]), or pdf-extract's own text output, split into lines, when a page has
/// more than [`MAX_PAGE_GLYPHS`]; `None` for a document with vertical writing (the fallback's).
/// Pages are read from the first until one cannot be, as pdf-extract's own page-by-page
/// extraction does.
fn positioned_pages(bytes: &[u8]) -> Result<Option<Vec<Vec<String>>>, pdf_extract::OutputError> {
    let mut doc = pdf_extract::Document::load_mem(bytes)?;
    if doc.is_encrypted() {
        doc.decrypt("")?;
    }
    if has_vertical_font(&doc) {
        return Ok(None);
    }
    let mut pages = Vec::new();
    for page in 1.. {
        let mut sink = GlyphSink::default();
        if pdf_extract::output_doc_page(&doc, &mut sink, page).is_err() {
            break;
        }
        if sink.overflow {
            let text = pdf_extract::extract_text_from_mem_by_pages(bytes)?;
            return Ok(Some(text.iter().map(|p| split_lines(p)).collect()));
        }
        pages.push(layout::page_lines(&sink.glyphs));
    }
    Ok(Some(pages))
}

/// Whether the document has a font with a vertical CMap (`Identity-V`, `UniGB-UCS2-V`, …):
/// pdf-extract advances every glyph along the baseline, so such text is left to the fallback,
/// which moves the pen down the column.
fn has_vertical_font(doc: &pdf_extract::Document) -> bool {
    doc.objects.values().any(|object| {
        let Ok(dict) = object.as_dict() else { return false };
        let is_font = dict.get(b"Type").and_then(|t| t.as_name()).is_ok_and(|t| t == b"Font");
        is_font && dict.get(b"Encoding").and_then(|e| e.as_name()).is_ok_and(|e| e.ends_with(b"-V"))
    })
}

fn split_lines(page: &str) -> Vec<String> {
    page.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Collects pdf-extract's glyphs with their positions, from the page's top left.
#[derive(Default)]
struct GlyphSink {
    page_height: f64,
    run: u32,
    glyphs: Vec<layout::Glyph>,
    /// The page had more than [`MAX_PAGE_GLYPHS`].
    overflow: bool,
}

impl pdf_extract::OutputDev for GlyphSink {
    fn begin_page(
        &mut self,
        _page: u32,
        media_box: &pdf_extract::MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), pdf_extract::OutputError> {
        self.page_height = media_box.ury - media_box.lly;
        Ok(())
    }
    fn end_page(&mut self) -> Result<(), pdf_extract::OutputError> {
        Ok(())
    }
    /// `trm` maps text space (the font size not applied) to the page, PDF's y up: its first row is
    /// the baseline's direction. `width` is the glyph's advance in text space per unit of font size.
    fn output_character(
        &mut self,
        trm: &pdf_extract::Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        text: &str,
    ) -> Result<(), pdf_extract::OutputError> {
        if self.glyphs.len() >= MAX_PAGE_GLYPHS {
            self.overflow = true;
            return Ok(());
        }
        // The page's y runs down here: the direction's y changes sign. A negative font size turns
        // the glyph (and its advance) round.
        let sign = if font_size < 0.0 { -1.0 } else { 1.0 };
        let direction = (sign * trm.m11, -sign * trm.m12);
        let det = trm.m11 * trm.m22 - trm.m12 * trm.m21;
        let (angle, size) = layout::orientation(direction, det, font_size);
        self.glyphs.push(layout::Glyph {
            x: trm.m31,
            y: self.page_height - trm.m32,
            advance: (width * font_size * direction.0.hypot(direction.1)).abs(),
            size,
            text: text.to_string(),
            run: self.run,
            angle,
            exact: true,
            space_before: false,
        });
        Ok(())
    }
    fn begin_word(&mut self) -> Result<(), pdf_extract::OutputError> {
        self.run += 1;
        Ok(())
    }
    fn end_word(&mut self) -> Result<(), pdf_extract::OutputError> {
        Ok(())
    }
    fn end_line(&mut self) -> Result<(), pdf_extract::OutputError> {
        Ok(())
    }
}

fn visible_chars(pages: &[Vec<String>]) -> usize {
    pages.iter().flatten().map(|l| l.chars().filter(|c| !c.is_whitespace()).count()).sum()
}

/// What kind of damage stopped the fallback, in the applicant's words (never the parser's).
fn damage_kind(error: &pdf_fallback::FallbackError) -> &'static str {
    match error {
        pdf_fallback::FallbackError::NoPages => "文件中没有页面",
        pdf_fallback::FallbackError::Encrypted => "文件已加密",
        pdf_fallback::FallbackError::Parse(_) => "文件结构无法解析",
    }
}

/// Extracts text in-process: pdf-extract first, then the project's fallback for the fonts pdf-extract
/// cannot read; a file whose structure neither can open is rebuilt from its objects
/// ([`pdf_repair`]) and read again, as viewers do. Only ever called inside the limited child.
fn extract(bytes: &[u8]) -> ChildResult {
    match extract_as_is(bytes) {
        Err(damage) => match pdf_repair::rebuild(bytes).map(|repaired| extract_as_is(&repaired)) {
            Some(Ok(result)) => ChildResult { method: format!("{}{REPAIRED}", result.method), ..result },
            _ => unreadable(format!("PDF文件已损坏或不完整，无法打开，请重新导出或扫描后上传（{}）", damage_kind(&damage))),
        },
        Ok(result) => result,
    }
}

fn unreadable(reason: impl Into<String>) -> ChildResult {
    ChildResult { method: "none".into(), pages: vec![], unreadable: Some(reason.into()), images: vec![] }
}

/// [`extract`] without the repair: the file's own structure, or the damage that stopped it.
fn extract_as_is(bytes: &[u8]) -> Result<ChildResult, pdf_fallback::FallbackError> {
    // Encryption is judged by the fallback, which opens files that need no user password (permissions
    // only, common on official PDFs) and refuses only those that do.
    let primary = std::panic::catch_unwind(|| positioned_pages(bytes));
    if let Ok(Ok(Some(pages))) = primary {
        if !pages.is_empty() && visible_chars(&pages) >= MIN_CHARS_PER_PAGE * pages.len() && !looks_garbled(&pages) {
            return Ok(with_stamped_scan(ChildResult { method: "pdf-extract".into(), pages, unreadable: None, images: vec![] }, bytes));
        }
    }
    match std::panic::catch_unwind(|| pdf_fallback::extract_pages(bytes)) {
        Ok(Ok(pages)) => {
            let pages: Vec<Vec<String>> = pages.into_iter().map(|p| p.lines).collect();
            if visible_chars(&pages) > 0 {
                return Ok(with_stamped_scan(
                    ChildResult { method: "pdf-fallback".into(), pages, unreadable: None, images: vec![] },
                    bytes,
                ));
            }
            if !has_images(bytes) {
                return Ok(unreadable("PDF中没有可读取的文字"));
            }
            Ok(match std::panic::catch_unwind(|| scan_images(bytes)) {
                Ok(Ok(images)) if images.is_empty() => unreadable("PDF中没有可读取的文字"),
                Ok(Ok(images)) if images.len() > MAX_SCAN_PAGES => {
                    unreadable(format!("扫描件共{}页，超过文字识别上限{MAX_SCAN_PAGES}页，请拆分后上传", images.len()))
                }
                Ok(Ok(images)) => ChildResult { method: "ocr-scan".into(), pages: vec![], unreadable: None, images },
                Ok(Err(unsupported)) => unreadable(unsupported.reason()),
                Err(_) => unreadable(pdf_images::Unsupported::Damaged.reason()),
            })
        }
        Ok(Err(pdf_fallback::FallbackError::Encrypted)) => Ok(unreadable("文件已加密，请上传未加密的PDF")),
        // The parser's own words ("failed parsing cross reference table") are for the log.
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(unreadable("PDF文件结构异常，无法解析")),
    }
}

/// A text layer too sparse for a page of text ([`SPARSE_CHARS_PER_PAGE`]) on a PDF with page images
/// that can be read: the images go to OCR as a scan's do, and the text layer's lines are kept.
/// Page images that cannot be read make the file unreadable with their reason: the thin text layer
/// (a file name, a page number) is not what the page says.
fn with_stamped_scan(text: ChildResult, bytes: &[u8]) -> ChildResult {
    if visible_chars(&text.pages) >= SPARSE_CHARS_PER_PAGE * text.pages.len().max(1) || !has_images(bytes) {
        return text;
    }
    match std::panic::catch_unwind(|| scan_images(bytes)) {
        Ok(Ok(images)) if images.is_empty() => text,
        Ok(Ok(images)) if images.len() > MAX_SCAN_PAGES => {
            unreadable(format!("扫描件共{}页，超过文字识别上限{MAX_SCAN_PAGES}页，请拆分后上传", images.len()))
        }
        Ok(Ok(images)) => ChildResult { method: "ocr-scan".into(), images, ..text },
        Ok(Err(unsupported)) => unreadable(unsupported.reason()),
        Err(_) => unreadable(pdf_images::Unsupported::Damaged.reason()),
    }
}

/// The page images of a scanned PDF, decoded from the child's encoding (for the benchmark, which
/// gives the same images to another OCR engine). Runs in the calling process.
pub fn scan_page_images(bytes: &[u8]) -> Vec<PageImage> {
    scan_images(bytes)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(&i.base64).ok()?;
            Some(PageImage { page: i.page, format: i.format, bytes })
        })
        .collect()
}

/// The largest image of every page of a scan, as JPEG or PNG ([`pdf_images`]). A page whose image
/// cannot be decoded makes the whole scan unreadable, with the reason: reading only some pages would
/// hide the rest from the decision.
fn scan_images(bytes: &[u8]) -> Result<Vec<EncodedPageImage>, pdf_images::Unsupported> {
    let doc = lopdf::Document::load_mem(bytes).map_err(|_| pdf_images::Unsupported::Damaged)?;
    let mut out = Vec::new();
    for (page, id) in doc.get_pages() {
        let images = doc.get_page_images(id).map_err(|_| pdf_images::Unsupported::Damaged)?;
        let Some(largest) = images.into_iter().max_by_key(|i| i.width.saturating_mul(i.height)) else {
            // No image of its own: a blank page, or one that draws its picture through a form
            // object or inline, which is not taken out. Anything drawn that way, or content that
            // cannot be decoded, fails the scan rather than skip a page.
            let content = doc.get_and_decode_page_content(id).map_err(|_| pdf_images::Unsupported::Damaged)?;
            if content.operations.iter().any(|op| matches!(op.operator.as_str(), "Do" | "BI" | "ID" | "EI")) {
                return Err(pdf_images::Unsupported::Nested);
            }
            continue;
        };
        let (format, data) = pdf_images::encode(&doc, &largest)?;
        out.push(EncodedPageImage { page, format, base64: base64::engine::general_purpose::STANDARD.encode(data) });
        if out.len() > MAX_SCAN_PAGES {
            break;
        }
    }
    Ok(out)
}

/// Whether the file has an image XObject: a `/Subtype` key whose value, after any PDF white space
/// (none, as many writers put it, or spaces and line breaks), is `/Image`. An image's dictionary
/// belongs to a stream, and streams are never inside compressed object streams, so it is always in
/// the file's own bytes.
fn has_images(bytes: &[u8]) -> bool {
    const KEY: &[u8] = b"/Subtype";
    let mut rest = bytes;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[at + KEY.len()..];
        let value = rest.iter().position(|b| !b" \t\r\n\x0c\0".contains(b)).map_or(&[][..], |i| &rest[i..]);
        if value.starts_with(b"/Image") {
            return true;
        }
    }
    false
}

/// pdf-extract sometimes "succeeds" with replacement characters or private-use code points when a
/// font lacks a usable ToUnicode map; such text must not be taken for the document's words.
fn looks_garbled(pages: &[Vec<String>]) -> bool {
    let (mut bad, mut total) = (0usize, 0usize);
    for ch in pages.iter().flatten().flat_map(|l| l.chars()).filter(|c| !c.is_whitespace()) {
        total += 1;
        if ch == '\u{FFFD}' || ('\u{E000}'..='\u{F8FF}').contains(&ch) || (ch.is_control()) {
            bad += 1;
        }
    }
    total > 0 && bad * 10 > total
}

#[cfg(test)]
mod tests {
    use super::{has_images, GlyphSink};
    use pdf_extract::{OutputDev as _, Transform};

    /// One glyph through the sink, as pdf-extract hands it over: the text-to-page matrix, the
    /// advance per unit of font size, the font size. Returns (x, y, angle, size, advance).
    fn glyph(trm: [f64; 6], width: f64, font_size: f64) -> (f64, f64, f64, f64, f64) {
        let mut sink = GlyphSink { page_height: 800.0, ..GlyphSink::default() };
        let [m11, m12, m21, m22, m31, m32] = trm;
        sink.output_character(&Transform::row_major(m11, m12, m21, m22, m31, m32), width, 0.0, font_size, "字").unwrap();
        let g = &sink.glyphs[0];
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        (round(g.x), round(g.y), round(g.angle), round(g.size), round(g.advance))
    }

    #[test]
    fn a_glyphs_frame_is_its_baseline_direction_its_size_across_it_and_its_advance_along_it() {
        // Upright at (50, 700) in PDF space, 10 pt, one em wide: 100 pt from the page's top.
        assert_eq!(glyph([1.0, 0.0, 0.0, 1.0, 50.0, 700.0], 1.0, 10.0), (50.0, 100.0, 0.0, 10.0, 10.0));
        // Synthetic italics (the vertical axis sheared): still upright, still 10 pt.
        assert_eq!(glyph([1.0, 0.0, 0.25, 1.0, 50.0, 700.0], 1.0, 10.0), (50.0, 100.0, 0.0, 10.0, 10.0));
        // Horizontal scaling of 50 %: half the advance, the same size.
        assert_eq!(glyph([0.5, 0.0, 0.0, 1.0, 50.0, 700.0], 1.0, 10.0), (50.0, 100.0, 0.0, 10.0, 5.0));
        // Rotated 45° anticlockwise in PDF space: up and to the right on the page, 315°, whole size.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert_eq!(glyph([h, h, -h, h, 50.0, 700.0], 1.0, 10.0), (50.0, 100.0, 315.0, 10.0, 10.0));
        // A page turned a quarter (text running up it): 270°.
        assert_eq!(glyph([0.0, 1.0, -1.0, 0.0, 50.0, 700.0], 1.0, 10.0).2, 270.0);
        // A negative font size under a matrix turned round: upright text after all.
        assert_eq!(glyph([-1.0, 0.0, 0.0, -1.0, 50.0, 700.0], 1.0, -10.0), (50.0, 100.0, 0.0, 10.0, 10.0));
    }

    #[test]
    fn an_image_is_found_however_its_subtype_is_spaced() {
        for spaced in ["/Subtype/Image", "/Subtype /Image", "<</Width 9/Subtype\r\n  /Image/Height 9>>", "/Type/XObject/Subtype\t/Image"] {
            assert!(has_images(spaced.as_bytes()), "{spaced:?}");
        }
        for other in ["/Subtype/Form", "/Subtype /Type1 /BaseFont /Image", "/Subtype", "no dictionaries at all"] {
            assert!(!has_images(other.as_bytes()), "{other:?}");
        }
    }
}
