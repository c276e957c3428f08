//! Tests of the fallback extractor on the sample PDFs and on hostile bytes.

use super::*;

/// Sample PDFs live in `fixtures/pdf-samples/` (made by `make_samples.py` there).
macro_rules! sample {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pdf-samples/", $name)).as_slice()
    };
}

const STSONG: &[u8] = sample!("stsong.pdf");
const WQY: &[u8] = sample!("wqy.pdf");
const LIBREOFFICE: &[u8] = sample!("libreoffice_noto.pdf");
const CAIRO: &[u8] = sample!("cairo_noto.pdf");
const HELVETICA: &[u8] = sample!("helvetica.pdf");
const ENCRYPTED: &[u8] = sample!("encrypted.pdf");
const ENCRYPTED_NO_USER: &[u8] = sample!("encrypted_nouser.pdf");

fn lines(bytes: &[u8]) -> Vec<Vec<String>> {
    extract_pages(bytes).expect("sample must parse").into_iter().map(|p| p.lines).collect()
}

#[test]
fn stsong_light_predefined_ucs2_cmap() {
    let pages = extract_pages(STSONG).unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].page, 1);
    assert_eq!(pages[0].lines, ["营业执照", "统一社会信用代码：92320214MA1NB3C47B", "名称：无锡市新吴区张记餐饮店", "经营者： Zhang San",]);
    assert_eq!(pages[1].page, 2);
    assert_eq!(pages[1].lines, ["第二页：登记机关"]);
}

#[test]
fn embedded_truetype_subset_with_tounicode() {
    assert_eq!(
        lines(WQY),
        [[
            "排污许可证申请表",
            "单位名称：无锡市某某化工有限公司",
            "污染物 单位 实测 限值",
            "化学需氧量 mg/L 236 500",
            "备注：以上数据由第三方检测机构提供。",
            "Remark: data (2024) provided by lab.",
        ]]
    );
}

#[test]
fn libreoffice_noto_cjk() {
    assert_eq!(
        lines(LIBREOFFICE),
        [[
            "建设项目环境影响登记表",
            "项目名称：新吴区餐饮店油烟净化改造项目。建设单位承诺所填信息真实、准确、完整。",
            "序号 污染物 排放浓度",
            "1 油烟 1.5 mg/m3",
            "2 化学需氧量 236 mg/L",
        ]]
    );
}

#[test]
fn cairo_noto_cjk_cidfonttype0c() {
    assert_eq!(
        lines(CAIRO),
        [[
            "建设项目环境影响登记表",
            "项目名称：新吴区餐饮店油烟净化改造项目。",
            "序号 污染物 排放浓度",
            "1 油烟 1.5 mg/m3",
            "2 化学需氧量 236 mg/L",
        ]]
    );
    let (_, stats) = extract_pages_with_stats(CAIRO).unwrap();
    assert_eq!(stats, ExtractStats::default());
}

#[test]
fn helvetica_winansi_and_form_xobject() {
    assert_eq!(
        lines(HELVETICA),
        [["Hello, World! 1234567890", "The quick brown fox jumps over the lazy dog.", "Café – “quoted” €5", "FORM XOBJECT TEXT",]]
    );
}

#[test]
fn encrypted_is_refused() {
    assert_eq!(extract_pages(ENCRYPTED), Err(FallbackError::Encrypted));
    // Empty user password (owner password only): lopdf decrypts it while
    // loading and drops /Encrypt from the trailer, so it is read like any PDF.
    assert_eq!(lines(ENCRYPTED_NO_USER), [["Owner password only"]]);
    assert_eq!(FallbackError::Encrypted.to_string(), "PDF is encrypted");
}

#[test]
fn empty_garbage_and_truncated_input_are_errors() {
    assert!(matches!(extract_pages(b""), Err(FallbackError::Parse(_))));
    assert!(matches!(extract_pages(b"not a pdf at all"), Err(FallbackError::Parse(_))));
    assert!(matches!(extract_pages(b"%PDF-1.4\n"), Err(FallbackError::Parse(_))));
    assert!(extract_pages(&[0u8; 4096]).is_err());
    for sample in [STSONG, HELVETICA, CAIRO] {
        assert!(extract_pages(&sample[..sample.len() / 2]).is_err());
    }
}

fn no_panic(bytes: &[u8]) -> bool {
    std::panic::catch_unwind(|| {
        let _ = extract_pages(bytes);
    })
    .is_ok()
}

#[test]
fn every_prefix_is_handled_without_panic() {
    for sample in [STSONG, WQY, HELVETICA] {
        let mut len = 0;
        while len <= sample.len() {
            let prefix = &sample[..len];
            assert!(no_panic(prefix), "panic on prefix of length {len}");
            len += 61;
        }
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn flip_test(sample: &[u8], seed: u64, rounds: usize) -> usize {
    let mut rng = Rng(seed);
    let mut ok = 0;
    for round in 0..rounds {
        let mut bytes = sample.to_vec();
        let flips = 1 + rng.below(8);
        for _ in 0..flips {
            let i = rng.below(bytes.len());
            bytes[i] = match rng.below(4) {
                0 => bytes[i] ^ (1 << rng.below(8)),
                1 => rng.next() as u8,
                2 => b"0123456789<>[]()/ \n"[rng.below(19)],
                _ => 0xFF,
            };
        }
        assert!(no_panic(&bytes), "panic in round {round} (seed {seed})");
        if extract_pages(&bytes).is_ok() {
            ok += 1;
        }
    }
    ok
}

#[test]
fn random_byte_flips_never_panic() {
    // Uncompressed synthetic documents: flips hit objects, CMaps and operators.
    let plain = synthetic_cmap_pdf();
    let parsed = flip_test(&plain, 0x9E37_79B9_7F4A_7C15, 2000);
    assert!(parsed > 100, "most flipped files should still load, got {parsed}");
    flip_test(STSONG, 42, 500);
    flip_test(HELVETICA, 7, 500);
}

// ---- synthetic PDFs -------------------------------------------------

/// Minimal PDF writer for tests: objects are numbered from 1, object 1 is the catalog.
fn build_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

fn obj(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut v = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\nendstream");
    v
}

/// One page (object 3) whose content is object 4; fonts and extras follow.
fn one_page(resources: &str, content: &[u8], extra: Vec<Vec<u8>>) -> Vec<u8> {
    let mut objects = vec![
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        obj(&format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Resources {resources} /Contents 4 0 R >>")),
        stream("", content),
    ];
    objects.extend(extra);
    build_pdf(&objects)
}

const TOUNICODE: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Test-UCS def /CMapType 2 def
1 begincodespacerange <0000> <FFFF> endcodespacerange
3 beginbfchar
<0001> <8425>  % U+8425
<0002> <D840DC00>  % U+20000, surrogate pair
<0003> /hyphen
endbfchar
2 beginbfrange
<0010> <0012> <4E00>
<0020> <0022> [<0041> <0042> <00430044>]
endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end";

/// Type0 Identity-H font with a ToUnicode CMap (objects 5–7).
fn synthetic_cmap_pdf() -> Vec<u8> {
    let content = b"BT /F1 12 Tf 72 700 Td <0001000200030010001100120099> Tj \
        0 -20 Td [<0020> -300 <0021> 50 <0022>] TJ ET";
    one_page(
        "<< /Font << /F1 5 0 R >> >>",
        content,
        vec![
            obj("<< /Type /Font /Subtype /Type0 /BaseFont /Test /Encoding /Identity-H \
                 /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>"),
            obj("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Test \
                 /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
                 /DW 1000 /W [1 [500 500] 16 18 600] >>"),
            stream("", TOUNICODE),
        ],
    )
}

#[test]
fn tounicode_bfchar_bfrange_surrogates_and_unmapped() {
    let (pages, stats) = extract_pages_with_stats(&synthetic_cmap_pdf()).unwrap();
    assert_eq!(pages[0].lines, ["营\u{20000}-一丁丂", "A BCD"]);
    assert_eq!(stats.unmapped_codes, 1);
}

#[test]
fn cmap_parser_limits_huge_ranges() {
    let cmap = CMap::parse(
        b"1 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange \
        1 beginbfrange <0000> <FFFF> [<0041>] endbfrange 1 begincidrange <0000> <ffff> 4294967295 endcidrange",
    );
    assert!(cmap.entries() <= MAX_CMAP_ENTRIES);
    assert_eq!(cmap.lookup(4, 0), Some("A"));
    assert_eq!(cmap.lookup(4, 1), Some("B"));
    assert_eq!(cmap.lookup(4, 0x20000), None);
    // Unterminated sections and stray tokens do not matter.
    let cmap = CMap::parse(b"beginbfchar <01> <0041> <02 >> ( ) ] [ <03> <0043");
    assert_eq!(cmap.lookup(1, 1), Some("A"));
}

#[test]
fn simple_font_differences_and_standard_encoding() {
    let content = b"BT /F1 10 Tf 50 700 Td (AB01) Tj T* (\x27x\x60) Tj ET \
        BT /F2 10 Tf 50 650 Td (Caf\x8e) Tj ET";
    let pdf = one_page(
        "<< /Font << /F1 5 0 R /F2 6 0 R >> >>",
        content,
        vec![
            obj("<< /Type /Font /Subtype /Type1 /BaseFont /Embedded \
                 /Encoding << /Type /Encoding /BaseEncoding /StandardEncoding \
                 /Differences [65 /uni4E2D /g123 48 /zero.oldstyle /f_i] >> >>"),
            obj("<< /Type /Font /Subtype /TrueType /BaseFont /Mac /Encoding /MacRomanEncoding >>"),
        ],
    );
    let (pages, stats) = extract_pages_with_stats(&pdf).unwrap();
    // T* with leading 0 stays on the same baseline.
    assert_eq!(pages[0].lines, ["中0fi ’x‘", "Café"]);
    assert_eq!(stats.unmapped_codes, 1); // /g123
}

#[test]
fn utf16_predefined_cmap_and_inherited_resources() {
    // Resources only on the /Pages node, as a direct dictionary.
    let objects = vec![
        obj("<< /Type /Catalog /Pages 2 0 R >>"),
        obj("<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /C 5 0 R >> >> >>"),
        obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R >>"),
        stream("", b"BT /C 12 Tf 1 0 0 1 72 700 Tm <5F205E02D840DC000041> Tj ET"),
        obj("<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UTF16-H \
             /DescendantFonts [<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> >>] >>"),
    ];
    assert_eq!(lines(&build_pdf(&objects)), [["张市\u{20000}A"]]);
}

#[test]
fn layout_td_tstar_quote_and_same_baseline_merge() {
    // Labels drawn first, values later on the same baselines; `'` and `"` move down.
    let content = b"BT /F1 10 Tf 14 TL 50 700 Td (Name:) Tj T* (Code:) Tj ET \
        BT /F1 10 Tf 200 700 Td (ACME Ltd) Tj 0 -14 Td (9132) Tj (0214) Tj ET \
        BT /F1 10 Tf 50 650 Td 12 TL (first) Tj (second) ' 1 0 (third) \" ET \
        q 1 0 0 1 0 -100 cm BT /F1 10 Tf 50 700 Td (shifted by cm) Tj ET Q";
    let pdf = one_page(
        "<< /Font << /F1 5 0 R >> >>",
        content,
        vec![obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")],
    );
    assert_eq!(lines(&pdf), [["Name: ACME Ltd", "Code: 91320214", "first", "second", "third", "shifted by cm"]]);
}

#[test]
fn nested_and_recursive_form_xobjects_terminate() {
    // Form 5 draws text and then itself and form 6; form 6 draws form 5.
    let content = b"q 1 0 0 1 100 100 cm /Fm1 Do Q";
    let pdf = one_page(
        "<< /Font << /F1 7 0 R >> /XObject << /Fm1 5 0 R /Fm2 6 0 R >> >>",
        content,
        vec![
            stream(
                "/Type /XObject /Subtype /Form /BBox [0 0 500 500] /Matrix [1 0 0 1 0 500]",
                b"BT /F1 9 Tf 0 0 Td (in form) Tj ET /Fm1 Do /Fm2 Do",
            ),
            stream(
                "/Type /XObject /Subtype /Form /BBox [0 0 500 500] \
                 /Resources << /XObject << /Fm1 5 0 R >> /Font << /F1 7 0 R >> >>",
                b"BT /F1 9 Tf 0 -50 Td (form two) Tj ET /Fm1 Do",
            ),
            obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
        ],
    );
    assert_eq!(lines(&pdf), [["in form", "form two"]]);
}

#[test]
fn hostile_numbers_and_operands_are_ignored() {
    let content = b"BT /F1 1e40 Tf 1 2 3 Tm (x) Tj /Nope 12 Tf 1e39 1e39 Td (y) Tj ET \
        Q Q Q q q cm Tf Tj TJ Do ' \" /Missing Do [(a) -1e30 (b)] TJ \
        BT /F1 NaN Tf 0 0 0 0 0 0 Tm (z) Tj ET";
    let pdf = one_page(
        "<< /Font << /F1 5 0 R >> >>",
        content,
        vec![obj("<< /Type /Font /Subtype /TrueType /FirstChar -9223372036854775808 \
             /Widths [1e38 -5 (x)] /Encoding /Bogus /ToUnicode 99 0 R >>")],
    );
    assert!(extract_pages(&pdf).is_ok());
}

#[test]
fn output_is_bounded() {
    // One string of ~64 KiB shown 40 times per form, the form drawn 1000 times.
    let big = "A".repeat(64 * 1024);
    let form = format!("BT /F1 10 Tf 0 0 Td {} ET", format!("({big}) Tj ").repeat(40));
    let content = "/Fm Do ".repeat(1000);
    let pdf = one_page(
        "<< /Font << /F1 6 0 R >> /XObject << /Fm 5 0 R >> >>",
        content.as_bytes(),
        vec![
            stream("/Type /XObject /Subtype /Form /BBox [0 0 1 1]", form.as_bytes()),
            obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
        ],
    );
    let (pages, stats) = extract_pages_with_stats(&pdf).unwrap();
    let total: usize = pages.iter().flat_map(|p| &p.lines).map(String::len).sum();
    assert!(total <= MAX_TEXT_BYTES);
    assert!(stats.truncated);
}

#[test]
fn no_pages() {
    let pdf = build_pdf(&[obj("<< /Type /Catalog /Pages 2 0 R >>"), obj("<< /Type /Pages /Kids [] /Count 0 >>")]);
    assert_eq!(extract_pages(&pdf), Err(FallbackError::NoPages));
}

#[test]
fn glyph_names() {
    assert_eq!(glyph_text(b"eacute").as_deref(), Some("é"));
    assert_eq!(glyph_text(b"Udieresis").as_deref(), Some("Ü"));
    assert_eq!(glyph_text(b"uni4E2D4E2D").as_deref(), Some("中中"));
    assert_eq!(glyph_text(b"u1F600").as_deref(), Some("😀"));
    assert_eq!(glyph_text(b"uniD800"), None);
    assert_eq!(glyph_text(b"g42"), None);
    assert_eq!(glyph_text(b"_"), None);
    assert_eq!(glyph_text(b"..."), None);
}

#[test]
fn a_page_is_laid_out_by_position_with_a_wrapped_value_joined_to_its_cell() {
    // A licence's two columns drawn row by row, the wrapped second line of the first value drawn
    // last (after the next row): the lines come by position and the wrap joins its cell (its line
    // above reaches the next column: it was full). Before the layout, the wrap came last, as a line
    // of its own, and the value was cut short.
    let content = b"BT /F1 10 Tf 1 0 0 1 50 700 Tm (Scope) Tj ET \
        BT /F1 10 Tf 1 0 0 1 120 700 Tm (aaaa bbbb cccc dddd eeee ffff gggg hhh) Tj ET \
        BT /F1 10 Tf 1 0 0 1 330 700 Tm (Address) Tj ET \
        BT /F1 10 Tf 1 0 0 1 400 700 Tm (1 Road) Tj ET \
        BT /F1 10 Tf 1 0 0 1 50 673 Tm (Name) Tj ET \
        BT /F1 10 Tf 1 0 0 1 120 673 Tm (ACME) Tj ET \
        BT /F1 10 Tf 1 0 0 1 120 686 Tm (iiii jjjj) Tj ET";
    let pdf = one_page(
        "<< /Font << /F1 5 0 R >> >>",
        content,
        vec![obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")],
    );
    assert_eq!(lines(&pdf), [["Scope aaaa bbbb cccc dddd eeee ffff gggg hhh iiii jjjj Address 1 Road", "Name ACME"]]);
}

#[test]
fn a_tj_word_space_separates_values_in_a_font_without_widths() {
    // Helvetica without /Widths: its advances are estimated, so a 0.3 em gap alone is no space; the
    // TJ adjustment of -300 is the writer's word space. Laid out without it, 18.0 and 45 read 18.045.
    let pdf = one_page(
        "<< /Font << /F1 5 0 R >> >>",
        b"BT /F1 10 Tf 1 0 0 1 50 700 Tm (NH3-N) Tj ET BT /F1 10 Tf 1 0 0 1 150 700 Tm [(18.0) -300 (45)] TJ ET",
        vec![obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")],
    );
    assert_eq!(lines(&pdf), [["NH3-N 18.0 45"]]);
}

#[test]
fn a_page_drawn_turned_a_quarter_and_in_synthetic_italics_reads_in_lines_with_spaces() {
    // Text running up the page (a landscape table on a portrait page), and upright text sheared by
    // a synthetic italic: both read as lines of cells, not glued together as a watermark would be.
    let content = b"BT /F1 10 Tf 0 1 -1 0 100 100 Tm (COD) Tj ET BT /F1 10 Tf 0 1 -1 0 100 200 Tm (152) Tj ET \
        BT /F1 10 Tf 0 1 -1 0 120 100 Tm (SS) Tj ET BT /F1 10 Tf 0 1 -1 0 120 200 Tm (83) Tj ET \
        BT /F1 10 Tf 1 0 0.25 1 300 700 Tm (Client) Tj ET BT /F1 10 Tf 1 0 0.25 1 400 700 Tm (ACME) Tj ET";
    let pdf = one_page(
        "<< /Font << /F1 5 0 R >> >>",
        content,
        vec![obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")],
    );
    assert_eq!(lines(&pdf), [["COD 152", "SS 83", "Client ACME"]]);
}
