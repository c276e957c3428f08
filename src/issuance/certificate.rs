//! The permit certificate: a one-page PDF in Chinese with the shipped font (subset, embedded) and a
//! QR code leading to the public verification page. Pure: data in, bytes out.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

/// Everything printed on a certificate (domain.md §1.8).
#[derive(Debug, Clone)]
pub struct CertificateData {
    pub title: String,
    pub number: String,
    /// Label and value rows, in order.
    pub rows: Vec<(String, String)>,
    pub authority: String,
    pub issued_on: String,
    pub verify_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate font cannot be read: {0}")]
    Font(String),
    #[error("the QR code cannot hold the verification address: {0}")]
    Qr(String),
}

/// The shipped font, loaded once.
pub struct CertificateFont {
    bytes: Vec<u8>,
    index: u32,
}

/// The font shipped in `assets/fonts/` (licence beside it), built into the binary so a certificate
/// never depends on what the server has installed.
const SHIPPED_FONT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/wqy-microhei.ttc"));

impl CertificateFont {
    pub fn shipped() -> Result<Self, CertificateError> {
        Self::new(SHIPPED_FONT.to_vec(), 0)
    }

    pub fn new(bytes: Vec<u8>, index: u32) -> Result<Self, CertificateError> {
        ttf_parser::Face::parse(&bytes, index).map_err(|e| CertificateError::Font(e.to_string()))?;
        Ok(Self { bytes, index })
    }
}

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 64.0;
const TITLE_SIZE: f32 = 22.0;
const BODY_SIZE: f32 = 12.0;
const LINE_GAP: f32 = 8.0;
const QR_SIZE: f32 = 120.0;
/// Characters of a value per line before it wraps (CJK glyphs are about one em wide).
const VALUE_CHARS_PER_LINE: usize = 30;

struct Line {
    x: f32,
    y: f32,
    size: f32,
    text: String,
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

fn layout(data: &CertificateData) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut y = PAGE_HEIGHT - MARGIN - TITLE_SIZE;
    let title_width = data.title.chars().count() as f32 * TITLE_SIZE;
    lines.push(Line { x: (PAGE_WIDTH - title_width) / 2.0, y, size: TITLE_SIZE, text: data.title.clone() });
    y -= TITLE_SIZE + 2.0 * LINE_GAP;
    lines.push(Line { x: MARGIN, y, size: BODY_SIZE, text: format!("许可证编号：{}", data.number) });
    y -= BODY_SIZE + 2.0 * LINE_GAP;
    for (label, value) in &data.rows {
        let label_text = format!("{label}：");
        let indent = MARGIN + label_text.chars().count() as f32 * BODY_SIZE;
        lines.push(Line { x: MARGIN, y, size: BODY_SIZE, text: label_text });
        for (idx, part) in wrap(value, VALUE_CHARS_PER_LINE).into_iter().enumerate() {
            if idx > 0 {
                y -= BODY_SIZE + LINE_GAP / 2.0;
            }
            lines.push(Line { x: indent, y, size: BODY_SIZE, text: part });
        }
        y -= BODY_SIZE + LINE_GAP;
    }
    let sign_y = MARGIN + QR_SIZE + 40.0;
    lines.push(Line { x: MARGIN, y: sign_y, size: BODY_SIZE, text: format!("发证机关：{}", data.authority) });
    lines.push(Line { x: MARGIN, y: sign_y - BODY_SIZE - LINE_GAP, size: BODY_SIZE, text: format!("发证日期：{}", data.issued_on) });
    lines.push(Line {
        x: PAGE_WIDTH - MARGIN - QR_SIZE, y: MARGIN - BODY_SIZE - 4.0, size: 9.0, text: "扫码核验许可证真伪与状态".into()
    });
    lines
}

/// Renders the certificate. Deterministic: the same data gives the same bytes.
pub fn render(font: &CertificateFont, data: &CertificateData) -> Result<Vec<u8>, CertificateError> {
    let face = ttf_parser::Face::parse(&font.bytes, font.index).map_err(|e| CertificateError::Font(e.to_string()))?;
    let lines = layout(data);

    // Glyphs: each character used, renumbered densely for the subset (CID = new glyph id).
    let mut remapper = subsetter::GlyphRemapper::new();
    let mut cid_of: BTreeMap<char, u16> = BTreeMap::new();
    for ch in lines.iter().flat_map(|l| l.text.chars()) {
        if cid_of.contains_key(&ch) {
            continue;
        }
        let gid = face.glyph_index(ch).map(|g| g.0).unwrap_or(0);
        cid_of.insert(ch, remapper.remap(gid));
    }
    let subset = subsetter::subset(&font.bytes, font.index, &remapper).map_err(|e| CertificateError::Font(e.to_string()))?;
    let units_per_em = face.units_per_em() as f32;
    let scale = 1000.0 / units_per_em;
    let mut widths: Vec<f32> = vec![0.0; remapper.num_gids() as usize];
    for (ch, cid) in &cid_of {
        let gid = face.glyph_index(*ch).unwrap_or(ttf_parser::GlyphId(0));
        widths[*cid as usize] = face.glyph_hor_advance(gid).map(|a| a as f32 * scale).unwrap_or(1000.0);
    }

    let (catalog_id, pages_id, page_id, content_id) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let (type0_id, cid_font_id, descriptor_id, file_id, cmap_id) = (Ref::new(5), Ref::new(6), Ref::new(7), Ref::new(8), Ref::new(9));
    let font_name = Name(b"F1");
    let base_font = Name(b"ONEWIN+WenQuanYiMicroHei");
    let system_info = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

    let mut pdf = Pdf::new();
    pdf.catalog(catalog_id).pages(pages_id);
    pdf.pages(pages_id).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).parent(pages_id).contents(content_id);
    page.resources().fonts().pair(font_name, type0_id);
    page.finish();

    pdf.type0_font(type0_id).base_font(base_font).encoding_predefined(Name(b"Identity-H")).descendant_font(cid_font_id).to_unicode(cmap_id);
    let mut cid_font = pdf.cid_font(cid_font_id);
    cid_font
        .subtype(CidFontType::Type2)
        .base_font(base_font)
        .system_info(system_info)
        .font_descriptor(descriptor_id)
        .default_width(1000.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    cid_font.widths().consecutive(0, widths.iter().copied());
    cid_font.finish();
    let bbox = face.global_bounding_box();
    pdf.font_descriptor(descriptor_id)
        .name(base_font)
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(bbox.x_min as f32 * scale, bbox.y_min as f32 * scale, bbox.x_max as f32 * scale, bbox.y_max as f32 * scale))
        .italic_angle(0.0)
        .ascent(face.ascender() as f32 * scale)
        .descent(face.descender() as f32 * scale)
        .cap_height(face.capital_height().unwrap_or(face.ascender()) as f32 * scale)
        .stem_v(80.0)
        .font_file2(file_id);
    let compressed_font = miniz_compress(&subset);
    pdf.stream(file_id, &compressed_font).filter(Filter::FlateDecode).pair(Name(b"Length1"), subset.len() as i32);
    let mut cmap = pdf_writer::types::UnicodeCmap::new(Name(b"Onewindow-UTF16"), system_info);
    for (ch, cid) in &cid_of {
        cmap.pair(*cid, *ch);
    }
    pdf.cmap(cmap_id, &cmap.finish());

    let mut content = Content::new();
    for line in &lines {
        let encoded: Vec<u8> = line.text.chars().flat_map(|c| cid_of[&c].to_be_bytes()).collect();
        content.begin_text().set_font(font_name, line.size).next_line(line.x, line.y).show(Str(&encoded)).end_text();
    }
    draw_qr(&mut content, &data.verify_url)?;
    let content = content.finish();
    pdf.stream(content_id, &content);
    Ok(pdf.finish())
}

/// The QR code as filled modules in the bottom-right corner.
fn draw_qr(content: &mut Content, url: &str) -> Result<(), CertificateError> {
    let code =
        qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M).map_err(|e| CertificateError::Qr(e.to_string()))?;
    let width = code.width();
    let quiet = 4;
    let module = QR_SIZE / (width + 2 * quiet) as f32;
    let (left, bottom) = (PAGE_WIDTH - MARGIN - QR_SIZE, MARGIN);
    for (idx, color) in code.to_colors().into_iter().enumerate() {
        if color == qrcode::Color::Dark {
            let (col, row) = (idx % width, idx / width);
            let x = left + (col + quiet) as f32 * module;
            let y = bottom + QR_SIZE - (row + quiet + 1) as f32 * module;
            content.rect(x, y, module, module);
        }
    }
    content.fill_nonzero();
    Ok(())
}

fn miniz_compress(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}
