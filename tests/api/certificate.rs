//! The certificate: a PDF that opens, whose text (read by the project's own reader) holds the permit
//! number and the holder's name in Chinese, and whose QR code decodes to the verification page;
//! and that page, public, without personal data.

use onewindow::reading::{ReadLimits, Reader};
use serde_json::Value;

use crate::helpers::{onewindow_exe, spawn_app, Fixture};

/// Rasterises the filled rectangles of the page (the QR modules) and decodes the QR code.
fn decode_qr(pdf: &[u8]) -> String {
    let document = lopdf::Document::load_mem(pdf).expect("the certificate opens");
    let page_id = *document.get_pages().get(&1).unwrap();
    let content = document.get_and_decode_page_content(page_id).unwrap();
    let rects: Vec<[f32; 4]> = content
        .operations
        .iter()
        .filter(|op| op.operator == "re")
        .map(|op| {
            let n: Vec<f32> = op.operands.iter().map(|o| o.as_float().unwrap()).collect();
            [n[0], n[1], n[2], n[3]]
        })
        .collect();
    assert!(rects.len() > 100, "a QR code is drawn");
    let min_x = rects.iter().map(|r| r[0]).fold(f32::MAX, f32::min) - 20.0;
    let min_y = rects.iter().map(|r| r[1]).fold(f32::MAX, f32::min) - 20.0;
    let max_x = rects.iter().map(|r| r[0] + r[2]).fold(f32::MIN, f32::max) + 20.0;
    let max_y = rects.iter().map(|r| r[1] + r[3]).fold(f32::MIN, f32::max) + 20.0;
    let scale = 4.0;
    let (width, height) = (((max_x - min_x) * scale) as usize, ((max_y - min_y) * scale) as usize);
    let mut pixels = vec![255u8; width * height];
    for r in &rects {
        let x0 = ((r[0] - min_x) * scale).round() as usize;
        let x1 = ((r[0] + r[2] - min_x) * scale).round() as usize;
        let y0 = ((max_y - (r[1] + r[3])) * scale).round() as usize;
        let y1 = ((max_y - r[1]) * scale).round() as usize;
        for y in y0..y1.min(height) {
            for x in x0..x1.min(width) {
                pixels[y * width + x] = 0;
            }
        }
    }
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("the QR code decodes").1
}

#[tokio::test]
async fn an_issued_permit_has_a_certificate_with_its_number_name_and_a_qr_code_to_verification() {
    let app = spawn_app().await;
    let fixture = Fixture::load("clean-catering-stsong");
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    let number = application["permit"]["number"].as_str().unwrap().to_string();

    let response = app.get(&format!("/api/v1/applications/{id}/certificate")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap().to_vec();
    let again = app.get(&format!("/api/v1/applications/{id}/certificate")).await.bytes().await.unwrap().to_vec();
    assert_eq!(pdf, again, "a certificate is fixed at issue and renders the same bytes");
    assert!(pdf.len() < 200_000, "only the glyphs used are embedded: {} bytes", pdf.len());

    let read = Reader::new(ReadLimits::default(), onewindow_exe()).read(&pdf);
    assert!(read.is_readable(), "{:?}", read.unreadable);
    let text: String = read.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
    assert!(text.contains(&number), "{text}");
    assert!(text.contains(fixture.form["applicant_name"].as_str().unwrap()), "{text}");
    assert!(text.contains("城镇污水排入排水管网许可证") && text.contains("2031-10-19"), "{text}");
    assert!(text.contains("餐饮") && text.contains("动植物油"), "category and its limits: {text}");

    // The verification code is printed, and carried by the QR code's address.
    let code = app.state.verification().code(&number);
    assert!(text.contains(&code), "{text}");
    let url = decode_qr(&pdf);
    let shown: Value = app.get(&format!("/api/v1/applications/{id}")).await.json().await.unwrap();
    let log_index = shown["log"]["permit"].as_u64().expect("the permit's log index");
    let expected = format!(
        "https://onewindow.example.gov.cn/verify/{}?code={code}&log={log_index}",
        onewindow::issuance::encode_path_segment(&number)
    );
    assert_eq!(url, expected);

    // The page behind the QR code: public, the status and the holder (a business by its name), no
    // personal data.
    let path = url.strip_prefix("https://onewindow.example.gov.cn").unwrap();
    let page = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("有效") && html.contains(&number), "{html}");
    assert!(html.contains(&format!("日志第 {log_index} 条")) && html.contains("包含证明已核对"), "{html}");
    assert!(!html.contains("证书上的日志序号与记录不符"), "{html}");
    assert!(html.contains(fixture.form["applicant_name"].as_str().unwrap()), "{html}");
    assert!(!html.contains(fixture.form["contact_phone"].as_str().unwrap()));
}

#[tokio::test]
async fn no_certificate_before_a_permit_is_issued() {
    let app = spawn_app().await;
    let id = app.submit_fixture("cod-over-b-limit", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let response = app.get(&format!("/api/v1/applications/{id}/certificate")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error_type"], "not_found");
}
