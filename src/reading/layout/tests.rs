//! The layout's rules, each on a page drawn the way writers draw it: glyphs placed by hand, in the
//! drawing order a writer would use, with the geometry of real documents (sizes, pitches, gaps).

use super::{page_lines, Glyph};

/// A page being drawn: each `text` call is one show-text operation (one run) of glyphs one em wide
/// for Han and half an em for everything else, as a CJK font's advances are.
#[derive(Default)]
struct Page {
    glyphs: Vec<Glyph>,
    run: u32,
}

impl Page {
    fn text(&mut self, x: f64, y: f64, size: f64, text: &str) -> &mut Self {
        self.run += 1;
        let mut pen = x;
        for c in text.chars() {
            let advance = if c.is_ascii() { 0.5 * size } else { size };
            self.glyphs.push(Glyph {
                x: pen,
                y,
                advance,
                size,
                text: c.to_string(),
                run: self.run,
                angle: 0.0,
                exact: true,
                space_before: false,
            });
            pen += advance;
        }
        self
    }
    /// Glyphs drawn one by one along a baseline at `angle` degrees (module doc), each its advance after the one before.
    fn turned(&mut self, (x, y): (f64, f64), angle: f64, size: f64, text: &str) -> &mut Self {
        self.run += 1;
        let (sin, cos) = angle.to_radians().sin_cos();
        let mut pen = 0.0;
        for c in text.chars() {
            let advance = if c.is_ascii() { 0.5 * size } else { size };
            let (gx, gy) = (x + pen * cos, y + pen * sin);
            self.glyphs.push(Glyph {
                x: gx,
                y: gy,
                advance,
                size,
                text: c.to_string(),
                run: self.run,
                angle,
                exact: true,
                space_before: false,
            });
            pen += advance;
        }
        self
    }
    fn lines(&self) -> Vec<String> {
        page_lines(&self.glyphs)
    }
}

#[test]
fn lines_come_top_to_bottom_and_left_to_right_whatever_the_drawing_order() {
    // A table drawn column by column (some writers draw each column as one block).
    let mut page = Page::default();
    for (x, column) in [(60.0, ["项目", "COD", "SS"]), (160.0, ["结果", "152", "83"]), (260.0, ["限值", "500", "400"])] {
        for (row, text) in column.iter().enumerate() {
            page.text(x, 100.0 + 20.0 * row as f64, 10.0, text);
        }
    }
    assert_eq!(page.lines(), ["项目 结果 限值", "COD 152 500", "SS 83 400"]);
}

#[test]
fn a_raised_exponent_stays_on_its_line_and_gaps_become_single_spaces() {
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "粪大肠菌群").text(160.0, 100.0, 10.0, "2.2×10").text(195.5, 96.5, 6.0, "3");
    page.text(205.0, 100.0, 10.0, "MPN/L");
    assert_eq!(page.lines(), ["粪大肠菌群 2.2×103 MPN/L"]);
}

#[test]
fn letter_spaced_labels_in_one_operation_stay_one_word() {
    // 名称 drawn as one operation with 1.5 em of character spacing: the writer's spacing, not a gap.
    let mut page = Page::default();
    page.run += 1;
    for (i, c) in ["名", "称"].iter().enumerate() {
        page.glyphs.push(Glyph {
            x: 60.0 + 25.0 * i as f64,
            y: 100.0,
            advance: 10.0,
            size: 10.0,
            text: c.to_string(),
            run: page.run,
            angle: 0.0,
            exact: true,
            space_before: false,
        });
    }
    page.text(125.0, 100.0, 10.0, "无锡新吴澜庭宾馆有限公司");
    assert_eq!(page.lines(), ["名称 无锡新吴澜庭宾馆有限公司"]);
}

#[test]
fn a_wrapped_value_beside_a_second_column_is_read_as_one_cell() {
    // A licence: label, value, second label, second value per row (rows 27 pt apart); the business
    // scope wraps twice in its own column, 16 pt apart (closer than the rows), under the row that
    // starts it: its lines end 2.5 em before the second column, too little for the next character
    // and the two cells' padding.
    let mut page = Page::default();
    for (row, (label, value, label2, value2)) in [
        ("法定代表人", "胡俊", "营业期限", "长期"),
        ("经营范围", "住宿服务；物业管理。（依法须经批准的", "住所", "无锡市新吴区梅村锡贤路23号"),
    ]
    .iter()
    .enumerate()
    {
        let y = 276.0 + 27.0 * row as f64;
        page.text(60.0, y, 10.5, label).text(125.0, y, 10.0, value).text(330.0, y, 10.5, label2).text(392.0, y, 10.5, value2);
    }
    page.text(125.0, 319.0, 10.0, "项目，经相关部门批准后方可开展经营活").text(125.0, 335.0, 10.0, "动）");
    page.text(60.0, 362.0, 10.5, "登记机关").text(125.0, 362.0, 10.5, "无锡市新吴区行政审批局");
    assert_eq!(
        page.lines(),
        [
            "法定代表人 胡俊 营业期限 长期",
            "经营范围 住宿服务；物业管理。（依法须经批准的项目，经相关部门批准后方可开展经营活动） 住所 无锡市新吴区梅村锡贤路23号",
            "登记机关 无锡市新吴区行政审批局",
        ]
    );
}

#[test]
fn a_wrap_in_the_right_column_is_not_taken_into_the_left_columns_next_row() {
    // The right column wraps at 17 pt while the left column's rows are 27 pt apart, so the wrap's
    // last line falls 0.7 em below the left column's next row: it still belongs to the right column.
    let mut page = Page::default();
    page.text(70.0, 162.0, 11.0, "名称").text(150.0, 162.0, 11.0, "无锡新吴康宁口腔门诊部有限公司");
    page.text(440.0, 162.0, 11.0, "经营范围").text(510.0, 162.3, 10.5, "医疗服务（口腔科）；健康咨询服务（不含诊疗服务）。");
    page.text(510.0, 179.3, 10.5, "（依法须经批准的项目，经相关部门批准后方可开展");
    page.text(70.0, 189.0, 11.0, "类型").text(150.0, 189.0, 11.0, "有限责任公司");
    page.text(510.0, 196.3, 10.5, "经营活动）");
    page.text(70.0, 216.0, 11.0, "法定代表人").text(150.0, 216.0, 11.0, "薛梅");
    // The right column's next row reaches the same right margin as the scope's first line.
    page.text(440.0, 243.0, 11.0, "住所").text(510.0, 243.0, 10.5, "江苏省无锡市新吴区菱湖大道中国传感网国际创新园区内");
    assert_eq!(
        page.lines(),
        [
            "名称 无锡新吴康宁口腔门诊部有限公司 经营范围 医疗服务（口腔科）；健康咨询服务（不含诊疗服务）。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
            "类型 有限责任公司",
            "法定代表人 薛梅",
            "住所 江苏省无锡市新吴区菱湖大道中国传感网国际创新园区内",
        ]
    );
}

#[test]
fn a_results_row_with_cells_of_two_lines_centred_beside_cells_of_one_is_one_row() {
    // Cells centred vertically: the method and the item name take two lines (±6.4 pt around the
    // row's middle), the other cells one line at the middle.
    let mut page = Page::default();
    page.text(56.5, 254.9, 9.5, "序号").text(103.5, 254.9, 9.5, "项目").text(217.5, 254.9, 9.5, "检测依据");
    page.text(347.0, 254.9, 9.5, "单位").text(414.5, 254.9, 9.5, "结果").text(485.5, 254.9, 9.5, "标准限值");
    page.text(210.8, 410.3, 9.5, "HJ 535-2009").text(102.1, 410.3, 9.5, "NH3-");
    page.text(63.4, 416.7, 9.5, "5").text(345.7, 416.7, 9.5, "mg/L").text(414.9, 416.7, 9.5, "18.0").text(499.3, 416.7, 9.5, "45");
    page.text(109.5, 423.2, 9.5, "N").text(193.8, 423.2, 9.5, "纳氏试剂分光光度法");
    page.text(63.4, 450.4, 9.5, "6").text(107.8, 450.4, 9.5, "TP").text(345.7, 450.4, 9.5, "mg/L");
    page.text(414.9, 450.4, 9.5, "3.02").text(501.9, 450.4, 9.5, "8");
    assert_eq!(
        page.lines(),
        ["序号 项目 检测依据 单位 结果 标准限值", "5 NH3-N HJ 535-2009 纳氏试剂分光光度法 mg/L 18.0 45", "6 TP mg/L 3.02 8"]
    );
}

#[test]
fn rows_of_a_tight_table_and_lines_of_a_list_stay_apart() {
    // Rows 1.3 em apart with every cell aligned with the one above: new rows, not continuations.
    let mut page = Page::default();
    for (row, (item, result)) in [("COD", "152"), ("SS", "83"), ("氨氮", "18.0")].iter().enumerate() {
        let y = 100.0 + 13.0 * row as f64;
        page.text(60.0, y, 10.0, item).text(160.0, y, 10.0, "mg/L").text(260.0, y, 10.0, result);
    }
    // Labelled lines of an information block, 1.5 em apart, values aligned.
    page.text(60.0, 200.0, 10.0, "委托单位：无锡新吴佳禾食品有限公司").text(60.0, 215.0, 10.0, "项目地址：无锡市新吴区鸿山路36号");
    // A value column under a merged (row-spanning) first cell: numbers are values of their own.
    page.text(60.0, 300.0, 10.0, "W1").text(120.0, 300.0, 10.0, "COD").text(260.0, 300.0, 10.0, "152");
    page.text(120.0, 315.0, 10.0, "SS").text(260.0, 315.0, 10.0, "83");
    assert_eq!(
        page.lines(),
        [
            "COD mg/L 152",
            "SS mg/L 83",
            "氨氮 mg/L 18.0",
            "委托单位：无锡新吴佳禾食品有限公司",
            "项目地址：无锡市新吴区鸿山路36号",
            "W1 COD 152",
            "SS 83",
        ]
    );
}

#[test]
fn a_paragraph_wrapping_at_the_margin_keeps_its_lines() {
    // Prose lines start at the left margin: the region's first column starts rows, it does not
    // continue them, so prose keeps its lines for the readers that join clauses across lines.
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "受无锡新吴佳禾食品有限公司委托，我公司于2026年8月19日对其排水进行了");
    page.text(60.0, 116.0, 10.0, "采样，并于当日完成分析。");
    assert_eq!(page.lines(), ["受无锡新吴佳禾食品有限公司委托，我公司于2026年8月19日对其排水进行了", "采样，并于当日完成分析。"]);
}

#[test]
fn diagonal_watermark_glyphs_are_one_line_after_the_page_and_overdrawn_glyphs_count_once() {
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "检测报告");
    // Simulated bold: the title drawn again 0.2 pt to the right.
    page.text(60.2, 100.0, 10.0, "检测报告");
    page.run += 1;
    for (i, c) in "样本SAMPLE".chars().enumerate() {
        let at = 20.0 * i as f64;
        page.glyphs.push(Glyph {
            x: 200.0 + at,
            y: 400.0 - at,
            advance: 30.0,
            size: 30.0,
            text: c.to_string(),
            run: page.run,
            angle: 315.0,
            exact: true,
            space_before: false,
        });
    }
    page.text(60.0, 500.0, 10.0, "结论：合格");
    // The watermark is not part of the page's rows: its line follows the page's text.
    assert_eq!(page.lines(), ["检测报告", "结论：合格", "样本SAMPLE"]);
}

#[test]
fn glyphs_with_impossible_positions_are_left_out() {
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "报告");
    page.glyphs.push(Glyph {
        x: f64::NAN,
        y: 100.0,
        advance: 5.0,
        size: 10.0,
        text: "X".into(),
        run: 99,
        angle: 0.0,
        exact: true,
        space_before: false,
    });
    page.glyphs.push(Glyph {
        x: 80.0,
        y: f64::INFINITY,
        advance: 5.0,
        size: 10.0,
        text: "Y".into(),
        run: 99,
        angle: 0.0,
        exact: true,
        space_before: false,
    });
    page.glyphs.push(Glyph {
        x: 80.0,
        y: 100.0,
        advance: 5.0,
        size: 0.0,
        text: "Z".into(),
        run: 99,
        angle: 0.0,
        exact: true,
        space_before: false,
    });
    assert_eq!(page.lines(), ["报告"]);
}

#[test]
fn a_full_line_in_the_first_column_keeps_its_next_line() {
    // The first column starts rows: a full label and the line under it are two rows.
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "无锡新吴佳禾食品有限公司").text(195.0, 100.0, 10.0, "法人");
    page.text(60.0, 116.0, 10.0, "分公司").text(195.0, 116.0, 10.0, "胡俊");
    assert_eq!(page.lines(), ["无锡新吴佳禾食品有限公司 法人", "分公司 胡俊"]);
}

#[test]
fn a_page_turned_a_quarter_reads_like_an_upright_one() {
    // A landscape table drawn on a portrait page turned a quarter anticlockwise: each line runs up
    // the page (270°), the next line 20 pt to its right.
    let mut page = Page::default();
    for (row, (item, result)) in [("项目", "结果"), ("COD", "152"), ("SS", "83")].iter().enumerate() {
        let x = 100.0 + 20.0 * row as f64;
        page.turned((x, 700.0), 270.0, 10.0, item).turned((x, 600.0), 270.0, 10.0, result);
    }
    assert_eq!(page.lines(), ["项目 结果", "COD 152", "SS 83"]);
}

#[test]
fn a_vertical_column_reads_top_to_bottom_and_columns_right_to_left() {
    let mut page = Page::default();
    page.turned((300.0, 100.0), 90.0, 10.0, "检测报告").turned((280.0, 100.0), 90.0, 10.0, "第二列");
    assert_eq!(page.lines(), ["检测报告", "第二列"]);
}

#[test]
fn one_large_glyph_does_not_pull_neighbouring_rows_into_one_line() {
    // Rows 1.2 em apart; a 30 pt mark drawn between them (a stamp's character, a checkbox).
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "COD").text(160.0, 100.0, 10.0, "152");
    page.text(300.0, 106.0, 30.0, "①");
    page.text(60.0, 112.0, 10.0, "SS").text(160.0, 112.0, 10.0, "83");
    assert_eq!(page.lines(), ["COD 152", "①", "SS 83"]);
}

#[test]
fn centred_rows_do_not_chain_down_the_page() {
    // Lines 0.7 em apart (a writer's half-row offsets): one row spans at most 1.5 em.
    let mut page = Page::default();
    for (i, (a, b)) in [("甲", "1"), ("乙", "2"), ("丙", "3"), ("丁", "4"), ("戊", "5")].iter().enumerate() {
        let y = 100.0 + 7.0 * i as f64;
        page.text(60.0 + 50.0 * i as f64, y, 10.0, a).text(400.0 + 20.0 * i as f64, y, 10.0, b);
    }
    assert_eq!(page.lines(), ["甲 乙 丙 1 2 3", "丁 戊 4 5"]);
}

#[test]
fn a_word_space_the_writer_asked_for_is_kept_whatever_the_estimated_gap() {
    // A font without widths: the estimated gap of 0.3 em would be no space, but the writer's TJ
    // adjustment said one. 18.0 and 45 are two values, never 18.045.
    let mut page = Page::default();
    for (x, text, space_before) in [(160.0, "18.0", false), (183.0, "45", true)] {
        page.run += 1;
        page.glyphs.push(Glyph {
            x,
            y: 100.0,
            advance: 20.0,
            size: 10.0,
            text: text.into(),
            run: page.run,
            angle: 0.0,
            exact: false,
            space_before,
        });
    }
    assert_eq!(page.lines(), ["18.0 45"]);
}

#[test]
fn orientation_is_the_baseline_direction_and_the_size_across_it() {
    let close = |(a, s): (f64, f64), (ea, es): (f64, f64)| (a - ea).abs() < 1e-9 && (s - es).abs() < 1e-9;
    // Upright, 10 pt.
    assert!(close(super::orientation((1.0, 0.0), 1.0, 10.0), (0.0, 10.0)));
    // Rotated 45°: the whole size (the product of the matrix's sums is zero there).
    let h = std::f64::consts::FRAC_1_SQRT_2;
    assert!(close(super::orientation((h, h), 1.0, 10.0), (45.0, 10.0)));
    // Scaled 2× across the baseline only: twice the size; running up the page: 270°.
    assert!(close(super::orientation((0.0, -1.0), 2.0, 10.0), (270.0, 20.0)));
    // A degenerate matrix gives no size (the glyph is left out).
    assert_eq!(super::orientation((0.0, 0.0), 0.0, 10.0).1, 0.0);
}

#[test]
fn a_last_column_value_is_not_continued_by_the_next_rows_value_without_rows_to_compare() {
    // Label–value rows, the second row's label cell empty: nothing on the page shows whether 16 pt
    // is a line inside a row or the next row, so the next row's company is its own line.
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "委托单位").text(120.0, 100.0, 10.0, "无锡新吴佳禾食品有限公司");
    page.text(120.0, 116.0, 10.0, "无锡新吴澜庭宾馆有限公司");
    assert_eq!(page.lines(), ["委托单位 无锡新吴佳禾食品有限公司", "无锡新吴澜庭宾馆有限公司"]);
}

#[test]
fn rows_at_the_tables_own_pitch_are_rows_even_with_an_empty_first_cell() {
    // Rows 16 pt apart, one without its label: it is at the rows' pitch, so it is a row.
    let mut page = Page::default();
    page.text(60.0, 84.0, 10.0, "项目名称").text(120.0, 84.0, 10.0, "排水许可申请水质检测委托");
    page.text(60.0, 100.0, 10.0, "委托单位").text(120.0, 100.0, 10.0, "无锡新吴佳禾食品有限公司");
    page.text(120.0, 116.0, 10.0, "无锡新吴澜庭宾馆有限公司");
    page.text(60.0, 132.0, 10.0, "检测类别").text(120.0, 132.0, 10.0, "委托检测");
    assert_eq!(
        page.lines(),
        ["项目名称 排水许可申请水质检测委托", "委托单位 无锡新吴佳禾食品有限公司", "无锡新吴澜庭宾馆有限公司", "检测类别 委托检测"]
    );
}

#[test]
fn text_drawn_over_other_text_is_two_cells_not_one_number() {
    // One operation draws 18.0 (1 em per glyph), a second draws 45 over its end: sorting glyphs
    // alone would read 18.405.
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "氨氮");
    page.run += 1;
    for (i, c) in ["1", "8", ".", "0"].iter().enumerate() {
        page.glyphs.push(Glyph {
            x: 100.0 + 10.0 * i as f64,
            y: 100.0,
            advance: 10.0,
            size: 10.0,
            text: c.to_string(),
            run: page.run,
            angle: 0.0,
            exact: true,
            space_before: false,
        });
    }
    page.text(125.0, 100.0, 10.0, "45");
    assert_eq!(page.lines(), ["氨氮 18.0 45"]);
}

#[test]
fn a_value_written_over_a_forms_blanks_is_a_cell_of_its_own() {
    // The form's line drawn as one operation with blanks; the value drawn over the blanks.
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "委托单位：            ");
    page.text(115.0, 100.0, 10.0, "无锡新吴佳禾食品有限公司");
    assert_eq!(page.lines(), ["委托单位： 无锡新吴佳禾食品有限公司"]);
}

#[test]
fn a_page_skewed_by_half_a_degree_is_one_frame() {
    // Words at 0.4° and 0.6°: one frame, one line, label before value.
    let mut page = Page::default();
    page.turned((60.0, 100.0), 0.4, 10.0, "委托单位").turned((120.0, 100.4), 0.6, 10.0, "无锡新吴佳禾食品有限公司");
    page.turned((60.0, 120.0), 0.6, 10.0, "检测类别").turned((120.0, 120.4), 0.4, 10.0, "委托检测");
    assert_eq!(page.lines(), ["委托单位 无锡新吴佳禾食品有限公司", "检测类别 委托检测"]);
}

#[test]
fn a_dash_over_a_number_in_a_centred_row_is_not_a_minus_sign() {
    // The limit column holds a dash above the result, 0.6 em apart in one centred row.
    let mut page = Page::default();
    page.text(60.0, 106.0, 10.0, "COD").text(300.0, 100.0, 10.0, "-").text(300.0, 106.0, 10.0, "45");
    assert_eq!(page.lines(), ["COD - 45"]);
}

/// A label–value block with rows 27 pt apart and `under` drawn 16 pt below the second row's value
/// (x 120, where a wrapped value's next line would stand): enough rows to measure the pitch, so
/// only the rule a test names can keep `under` apart.
fn block_with_a_line_under(value: &str, under: &str) -> Vec<String> {
    let mut page = Page::default();
    page.text(60.0, 73.0, 10.0, "报告编号").text(120.0, 73.0, 10.0, "新吴检测报告").text(240.0, 73.0, 10.0, "报告日期");
    page.text(285.0, 73.0, 10.0, "见签发页");
    page.text(60.0, 100.0, 10.0, "项目名称").text(120.0, 100.0, 10.0, value).text(240.0, 100.0, 10.0, "样品类型");
    page.text(285.0, 100.0, 10.0, "废水排放口");
    page.text(120.0, 116.0, 10.0, under);
    page.text(60.0, 127.0, 10.0, "检测类别").text(120.0, 127.0, 10.0, "委托检测").text(240.0, 127.0, 10.0, "样品状态");
    page.text(285.0, 127.0, 10.0, "微黄");
    page.lines()
}

#[test]
fn a_line_with_a_date_a_frequency_or_a_grade_under_a_full_value_is_not_taken_for_its_wrap() {
    // The control: without a value in it, the line is the value's next line.
    assert_eq!(
        block_with_a_line_under("污水排放监测委托检测", "（第二批）")[1],
        "项目名称 污水排放监测委托检测（第二批） 样品类型 废水排放口"
    );
    for under in ["2026年8月19日", "二〇二六年八月", "1次/年", "一级", "Ⅲ类", "４５"] {
        let lines = block_with_a_line_under("污水排放监测委托检测", under);
        assert_eq!(lines[1], "项目名称 污水排放监测委托检测 样品类型 废水排放口", "{under}");
        assert_eq!(lines[2], under);
    }
}

#[test]
fn a_short_value_is_not_continued_by_the_line_under_it() {
    // The value ends far from the next column: nothing shows the text broke.
    assert_eq!(block_with_a_line_under("厂区总排口", "雨水排口")[1..3], ["项目名称 厂区总排口 样品类型 废水排放口", "雨水排口"]);
}

#[test]
fn the_same_text_under_a_value_is_a_row_of_its_own() {
    assert_eq!(
        block_with_a_line_under("无锡新吴检测技术中心", "无锡新吴检测技术中心")[1..3],
        ["项目名称 无锡新吴检测技术中心 样品类型 废水排放口", "无锡新吴检测技术中心"]
    );
    // The control: other text there is the value's next line.
    assert_eq!(block_with_a_line_under("无锡新吴检测技术中心", "实验室")[1], "项目名称 无锡新吴检测技术中心实验室 样品类型 废水排放口");
}

#[test]
fn two_rows_of_values_bridged_by_a_cell_centred_between_them_stay_two_rows() {
    // A sampling point spanning two results rows 1.49 em apart is drawn at their middle.
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.5, "COD").text(120.0, 100.0, 10.5, "mg/L").text(200.0, 100.0, 10.5, "152").text(260.0, 100.0, 10.5, "500");
    page.text(20.0, 107.8, 10.5, "W1");
    page.text(60.0, 115.6, 10.5, "BOD").text(120.0, 115.6, 10.5, "mg/L").text(200.0, 115.6, 10.5, "83").text(260.0, 115.6, 10.5, "300");
    let lines = page.lines();
    assert!(lines.iter().any(|l| l.ends_with("COD mg/L 152 500")), "{lines:?}");
    assert!(lines.iter().any(|l| l.ends_with("BOD mg/L 83 300")), "{lines:?}");
    // Full-width digits, a pitch of 1 em, and a mark between rows beside them: never one number.
    let mut page = Page::default();
    page.text(60.0, 100.0, 10.0, "SS").text(200.0, 100.0, 10.0, "１２");
    page.text(20.0, 105.0, 10.0, "总排口").text(300.0, 105.0, 10.0, "①");
    page.text(60.0, 110.0, 10.0, "pH").text(200.0, 110.0, 10.0, "７");
    let lines = page.lines();
    assert!(lines.iter().any(|l| l.ends_with("SS １２") || l.contains("SS １２ ")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("pH ７")), "{lines:?}");
}

#[test]
fn under_a_first_column_merged_over_two_rows_the_rows_without_it_stay_rows() {
    // W1 and W2 each span two rows (drawn at the top); the rows are 16 pt apart.
    let mut page = Page::default();
    for (row, (point, item, verdict)) in
        [("W1", "浑浊度", "合格"), ("", "嗅和味", "不合格"), ("W2", "色度", "合格"), ("", "肉眼可见物", "不合格")].iter().enumerate()
    {
        let y = 100.0 + 16.0 * row as f64;
        if !point.is_empty() {
            page.text(60.0, y, 10.0, point);
        }
        page.text(120.0, y, 10.0, item).text(175.0, y, 10.0, verdict);
    }
    assert_eq!(page.lines(), ["W1 浑浊度 合格", "嗅和味 不合格", "W2 色度 合格", "肉眼可见物 不合格"]);
}
