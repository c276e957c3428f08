//! Tests of the field readers: licence, ID card and test-report layouts, typed values, conflicting readings.

use super::*;
use crate::rules::RuleSet;

/// One line per text, on page 1, read surely (as from a text layer).
pub(super) fn lines(texts: &[&str]) -> Vec<TextLine> {
    texts.iter().map(|t| TextLine::new(1, *t, 1.0)).collect()
}

pub(super) fn ruleset() -> RuleSet {
    RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
}

pub(super) fn field<'a>(fields: &'a [ExtractedField], path: &str) -> &'a ExtractedField {
    fields.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("{path} not read from {fields:?}"))
}

#[test]
fn licence_labels_in_many_layouts() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents);
    let read = reader.read(&lines(&[
        "营 业 执 照",
        "统一社会信用代码 92320214MA1NB3C47B",
        "名　　称：无锡市新吴区张记餐饮店 类 型 个体工商户",
        "经营者",
        "张三",
        "经营范围：餐饮服务；食品销售（仅销售预包装食品）；",
        "饮品制售。",
        "经营场所：无锡市新吴区长江路21号",
        "注册日期 二〇二四年三月五日",
    ]));
    assert_eq!(field(&read, "credit_code").value, json!("92320214MA1NB3C47B"));
    assert_eq!(field(&read, "name").value, json!("无锡市新吴区张记餐饮店"));
    assert_eq!(field(&read, "business_type").value, json!("个体工商户"));
    assert_eq!(field(&read, "legal_representative").value, json!("张三"));
    assert_eq!(field(&read, "legal_representative").confidence, CONF_NEXT_LINE);
    assert!(field(&read, "business_scope").value.as_str().unwrap().contains("饮品制售"));
    assert_eq!(field(&read, "established").value, json!("2024-03-05"));
    assert_eq!(field(&read, "name").confidence, CONF_LABEL_COLON);
}

#[test]
fn seal_placeholders_are_not_part_of_a_name() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
    let read = reader.read(&lines(&["委托单位：无锡市新吴区张记餐饮店（盖章）"]));
    assert_eq!(field(&read, "client").value, json!("无锡市新吴区张记餐饮店"));
}

#[test]
fn label_rows_above_value_rows() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents);
    let read = reader.read(&lines(&["名称 | 类型 | 经营者", "无锡市新吴区张记餐饮店 | 个体工商户 | 张三"]));
    assert_eq!(field(&read, "name").value, json!("无锡市新吴区张记餐饮店"));
    assert_eq!(field(&read, "business_type").value, json!("个体工商户"));
    assert_eq!(field(&read, "legal_representative").value, json!("张三"));
}

#[test]
fn labels_wrapped_in_narrow_cells_are_joined() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents);
    let read = reader.read(&lines(&[
        "统一社会信",
        "用代码 92320214MA1NB3C47B",
        "名　　称 无锡市新吴区茶语饮品店 注册日",
        "期 2024 年 02 月 28 日",
    ]));
    assert_eq!(field(&read, "credit_code").value, json!("92320214MA1NB3C47B"));
    assert_eq!(field(&read, "name").value, json!("无锡市新吴区茶语饮品店"));
    assert_eq!(field(&read, "established").value, json!("2024-02-28"));
}

#[test]
fn a_label_inside_a_longer_word_is_not_that_label() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
    let read = reader.read(&lines(&["委托方 无锡新之洲酒店有限公司 联系人 沈立群", "委托方地址 无锡市新吴区长江路 21 号"]));
    assert_eq!(field(&read, "client").value, json!("无锡新之洲酒店有限公司"));
    assert_eq!(field(&read, "client").confidence, CONF_LABEL_SPACE);
}

#[test]
fn an_id_card_label_glued_to_its_value_by_ocr_is_still_the_label() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["id_card"], &rules.documents);
    let read = reader.read(&lines(&["姓名陈晓雨", "性别男 民族 汉", "公民身份号码 320214199506011239"]));
    assert_eq!(field(&read, "name").value, json!("陈晓雨"));
    assert_eq!(field(&read, "sex").value, json!("男"));
    assert_eq!(field(&read, "ethnicity").value, json!("汉"));
}

#[test]
fn prose_dates_without_a_label() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
    let read = reader.read(&lines(&["我公司检测人员于二〇二六年十月十二日对该店洗涤", "废水总排口（1#）进行了采样。"]));
    assert_eq!(field(&read, "sampling_date").value, json!("2026-10-12"));
}

#[test]
fn several_sampling_points_give_the_worst_reading() {
    let rules = ruleset();
    let reader = PollutantReader::new(&rules.water);
    let read = reader.read(&lines(&[
        "检测项目 单位 W1 W2 标准限值 评价",
        "pH 值（无量纲） 无量纲 7.3 8.9 6.5~9.5 达标",
        "COD mg/L 214 268 500 达标",
    ]));
    assert_eq!(field(&read, "pollutants.ph").value, json!(8.9));
    assert_eq!(field(&read, "pollutants.cod").value, json!(268.0));
    assert_eq!(field(&read, "pollutants.cod").confidence, CONF_RESULT_CLEAR);
}

#[test]
fn prose_results_and_quoted_limits() {
    let rules = ruleset();
    let reader = PollutantReader::new(&rules.water);
    let read = reader.read(&lines(&[
        "检测结果如下：pH值为7.6（无量纲）；悬浮物浓度为58毫克/升；化学需氧量为196毫克/",
        "升；氨氮为8.3毫克/升。",
        "上述项目均满足B级标准限值要求（化学需氧量500毫克/升、悬浮物400毫克/升）。",
    ]));
    assert_eq!(field(&read, "pollutants.ph").value, json!(7.6));
    assert_eq!(field(&read, "pollutants.cod").value, json!(196.0));
    assert_eq!(field(&read, "pollutants.cod").confidence, CONF_RESULT_CLEAR, "the quoted limit is not a second reading");
    assert_eq!(field(&read, "pollutants.ss").value, json!(58.0));
}

/// Regression (review of 2026-11-28): a line ending in a multi-byte space (U+2003) made the
/// split-label join slice inside a character and panic.
#[test]
fn contribution_spans_in_months_or_years_and_months() {
    assert_eq!(typed_value(FieldKind::Months, "426个月"), Some(json!(426.0)));
    assert_eq!(typed_value(FieldKind::Months, "426"), Some(json!(426.0)));
    assert_eq!(typed_value(FieldKind::Months, "35年6个月"), Some(json!(426.0)));
    assert_eq!(typed_value(FieldKind::Months, "35年"), Some(json!(420.0)));
    assert_eq!(typed_value(FieldKind::Months, "2025年6月"), None, "a date is not a span");
    assert_eq!(typed_value(FieldKind::Months, "35年14个月"), None);
}

#[test]
fn validity_periods_end_on_their_later_date_or_never() {
    assert_eq!(typed_value(FieldKind::ValidityEnd, "2015.06.01-2035.06.01"), Some(json!("2035-06-01")));
    assert_eq!(typed_value(FieldKind::ValidityEnd, "2016.02.10-长期"), Some(json!("long_term")));
    assert_eq!(typed_value(FieldKind::ValidityEnd, "2006年09月09日至2016年09月09日"), Some(json!("2016-09-09")));
    assert_eq!(typed_value(FieldKind::ValidityEnd, "2035.06.01"), None, "a single date is not a period");
    assert_eq!(typed_value(FieldKind::ValidityEnd, "2035.06.01-2015.06.01"), None, "a period that ends before it starts");
}

#[test]
fn multi_byte_spaces_do_not_panic() {
    let rules = ruleset();
    for kind in rules.documents.kinds.values() {
        let reader = KindReader::new(kind, &rules.documents);
        reader.read(&lines(&["名称\u{2003}甲公司\u{2003}", "\u{2003}统一社会信\u{205F}", "用代码 92320214MA1NB3C47B\u{202F}"]));
    }
    PollutantReader::new(&rules.water).read(&lines(&["检测项目\u{2003}W1\u{2003}W2\u{2003}限值", "COD\u{2003}12\u{2003}13\u{2003}500"]));
}

#[test]
fn conflicting_readings_lower_the_confidence() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents);
    let read = reader.read(&lines(&["名称：甲公司", "名称：乙公司"]));
    assert_eq!(field(&read, "name").confidence, CONF_CONFLICT);
}

#[test]
fn results_tables_with_either_column_order_and_units() {
    let rules = ruleset();
    let reader = PollutantReader::new(&rules.water);
    let read = reader.read(&lines(&[
        "序号 检测项目 单位 标准限值 检测结果 单项判定",
        "1 pH值 无量纲 6.5~9.5 7.4 达标",
        "2 化学需氧量(CODcr) 毫克/升 500 236 达标",
        "3 氨氮(以N计) mg/l 45 12.5 达标",
        "4 五日生化需氧量 mg/L 350 98 达标 HJ 505-2009",
        "5 总磷 μg/L 8 2100 达标",
        "6 动植物油 mg/L 100 ND 达标",
    ]));
    assert_eq!(field(&read, "pollutants.ph").value, json!(7.4));
    assert_eq!(field(&read, "pollutants.cod").value, json!(236.0));
    assert_eq!(field(&read, "pollutants.nh3n").value, json!(12.5));
    assert_eq!(field(&read, "pollutants.bod5").value, json!(98.0));
    assert_eq!(field(&read, "pollutants.tp").value, json!(2.1));
    assert_eq!(field(&read, "pollutants.oil").value, json!(0.0));
    assert!(read.iter().all(|f| f.confidence >= 0.9), "{read:?}");
}

#[test]
fn prose_results_and_ambiguous_rows() {
    let rules = ruleset();
    let reader = PollutantReader::new(&rules.water);
    let read = reader.read(&lines(&["化学需氧量：236 mg/L，标准限值500 mg/L", "悬浮物 120 400", "CODMn 3.1"]));
    assert_eq!(field(&read, "pollutants.cod").value, json!(236.0));
    assert_eq!(field(&read, "pollutants.cod").confidence, CONF_RESULT_CLEAR);
    assert_eq!(field(&read, "pollutants.ss").confidence, CONF_RESULT_AMBIGUOUS);
    assert_eq!(read.len(), 2, "CODMn is not COD: {read:?}");
}

#[test]
fn a_result_that_contradicts_the_reports_own_verdict_is_not_trusted() {
    let rules = ruleset();
    let reader = PollutantReader::new(&rules.water);
    let read = reader.read(&lines(&[
        "序号 检测项目 单位 检测结果 标准限值 判定",
        // A scan whose decimal points were lost: 2.46 read as 246 against the row's own ≤20, which
        // the report says is met; 32.5 as 325 against ≤70.
        "9 阴离子表面活性剂 mg/L 246 20 合格",
        "6 总氮 mg/L 325 ≤70 合格",
        "8 动植物油 mg/L 21.4 ≤100 合格",
        // The report calls a result within its limit exceeded.
        "2 化学需氧量 mg/L 52 500 超标",
        // A result over the limit that the report also calls exceeded is a reading to decide on.
        "5 氨氮 mg/L 60 45 不合格",
        "1 pH值 无量纲 72 6~9 合格",
    ]));
    for item in ["las", "tn", "cod", "ph"] {
        assert!(field(&read, &format!("pollutants.{item}")).confidence <= CONF_CONFLICT, "{item}: {read:?}");
    }
    assert_eq!(field(&read, "pollutants.las").value, json!(246.0), "the reading is kept for the reviewer, not guessed at");
    assert_eq!(field(&read, "pollutants.oil").confidence, CONF_RESULT_CLEAR);
    assert_eq!(field(&read, "pollutants.nh3n").value, json!(60.0));
    assert_eq!(field(&read, "pollutants.nh3n").confidence, CONF_RESULT_CLEAR);

    let prose = reader.read(&lines(&["化学需氧量：2360 mg/L，标准限值500 mg/L，达标", "pH值为7.2，标准限值6~9，达标"]));
    assert!(field(&prose, "pollutants.cod").confidence <= CONF_CONFLICT, "{prose:?}");
    assert_eq!(field(&prose, "pollutants.ph").confidence, CONF_RESULT_CLEAR);
}

#[test]
fn a_credit_code_failing_its_check_is_doubtful_when_read_by_ocr_and_a_fact_when_read_from_text() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["business_licence"], &rules.documents);
    // One glyph misread: the valid 92320214MA1NB3C47B with its 3 read as 8.
    let text = "统一社会信用代码 92820214MA1NB3C47B";
    let from_text = reader.read(&lines(&[text]));
    assert_eq!(field(&from_text, "credit_code").value, json!("92820214MA1NB3C47B"));
    assert!(field(&from_text, "credit_code").confidence >= 0.9, "{from_text:?}");
    let from_ocr = reader.read(&[ocr_line(&[(text, 0.97)])]);
    assert!(field(&from_ocr, "credit_code").confidence <= CONF_CONFLICT, "{from_ocr:?}");
}

#[test]
fn a_result_on_the_line_above_its_item_in_a_tall_row_is_read() {
    let rules = ruleset();
    let reader = PollutantReader::new(&rules.water);
    // A scan's row whose method cell wraps over three lines: the numbers came out with its first.
    let read = reader.read(&lines(&[
        "检测项目 检测方法及依据 检出限 检测结果 单位",
        "石油类 HJ637-2018红外分光光度法 0.06 0.06L mg/L",
        "HJ586-2010N,N-二乙基-1,4-苯二胺分光光 0.03 3.6",
        "总余氯 mg/L",
        "度法",
    ]));
    assert_eq!(field(&read, "pollutants.chlorine").value, json!(3.6));
    assert_eq!(field(&read, "pollutants.petroleum").value, json!(0.06), "{read:?}");
}

/// An OCR line of whitespace-separated pieces, each read with its confidence.
fn ocr_line(pieces: &[(&str, f64)]) -> TextLine {
    let mut text = String::new();
    let mut out = Vec::new();
    for (piece, confidence) in pieces {
        if !text.is_empty() {
            text.push(' ');
        }
        let start = text.chars().count();
        text.push_str(piece);
        out.push(crate::reading::Piece { start, end: text.chars().count(), confidence: *confidence });
    }
    let least = out.iter().map(|p| p.confidence).fold(1.0, f64::min);
    TextLine { pieces: out, ..TextLine::new(1, text, least) }
}

#[test]
fn a_doubtful_item_name_counts_unless_the_rows_own_limit_is_that_items_limit() {
    let rules = ruleset();
    let reader = PollutantReader::new(&rules.water);
    let read = reader.read(&[
        TextLine::new(1, "序号 检测项目 单位 检测结果 标准限值 判定", 1.0),
        ocr_line(&[("3", 0.99), ("SS", 0.63), ("毫克/升", 0.98), ("212", 1.0), ("≤400", 0.98), ("合格", 1.0)]),
        ocr_line(&[("1", 0.99), ("pH值", 0.92), ("无量纲", 0.99), ("7.8", 0.998), ("6.5~9.5", 0.98), ("合格", 1.0)]),
        // 总氮 misread as 氨氮: 70 is not ammonia's limit in any grade, so the name's doubt stays.
        ocr_line(&[("6", 0.99), ("氨氮", 0.70), ("mg/L", 0.98), ("32.5", 0.99), ("≤70", 0.98), ("合格", 1.0)]),
        // No limit in the row to identify the item by.
        ocr_line(&[("9", 0.99), ("LAS", 0.70), ("mg/L", 0.98), ("2.46", 0.99), ("—", 0.98), ("合格", 1.0)]),
    ]);
    assert!(field(&read, "pollutants.ss").confidence >= 0.9, "{read:?}");
    assert!(field(&read, "pollutants.ph").confidence >= 0.9, "{read:?}");
    assert!(field(&read, "pollutants.nh3n").confidence <= 0.7, "{read:?}");
    assert!(field(&read, "pollutants.las").confidence <= 0.7, "{read:?}");
}

fn results(texts: &[&str]) -> ResultsRead {
    PollutantReader::new(&ruleset().water).read_under("pollutants", &lines(texts))
}

#[test]
fn heavy_metals_are_read_in_their_rows() {
    let read = results(&[
        "序号 检测项目 单位 检测结果 标准限值 单项判定",
        "1 总镍 mg/L 2.1 1 不合格",
        "2 六价铬 mg/L 0.004L 0.5 合格",
        "3 总铬 mg/L 0.03 1.5 合格",
        "4 总汞 μg/L 0.3 5 合格",
    ]);
    assert_eq!(field(&read.fields, "pollutants.ni").value, json!(2.1));
    assert_eq!(field(&read.fields, "pollutants.cr6").value, json!(0.004));
    assert_eq!(field(&read.fields, "pollutants.cr").value, json!(0.03));
    assert_eq!(field(&read.fields, "pollutants.hg").value, json!(0.0003), "μg/L converted to mg/L");
    assert!(read.unread.is_empty(), "{:?}", read.unread);
}

#[test]
fn a_results_row_of_an_unknown_item_is_named_not_skipped() {
    let read = results(&[
        "序号 检测项目 单位 检测结果 标准限值 单项判定",
        "1 化学需氧量 mg/L 236 500 合格",
        "2 总锌 mg/L 8.6 5 不合格",
        "3 氨氮 mg/L 12.1 45 合格",
        "以下空白",
        "报告编号 WX20261019 邮编 214028",
    ]);
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(236.0));
    assert_eq!(read.unread.len(), 1, "{:?}", read.unread);
    assert!(read.unread[0].text.contains("总锌"));
    // In prose, the clause of an unknown item after a known one is named too.
    let read = results(&["经检测，化学需氧量：236 mg/L；总锌：0.8 mg/L；悬浮物：85 mg/L。"]);
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(236.0));
    assert_eq!(field(&read.fields, "pollutants.cod").confidence, CONF_RESULT_CLEAR);
    assert_eq!(read.unread.len(), 1, "{:?}", read.unread);
    assert!(read.unread[0].text.contains("总锌"));
}

#[test]
fn sideways_tables_are_read_by_column() {
    let read = results(&[
        "检测结果",
        "点位 pH值 化学需氧量 悬浮物 氨氮 总磷 阴离子表面活性剂",
        "单位 无量纲 mg/L mg/L mg/L mg/L mg/L",
        "W1 总排口 7.2 236 85 12.1 1.6 0.52",
        "W2 预处理出口 6.8 310 92 15.3 2.1 ND",
        "标准限值 6.5~9.5 500 400 45 8 20",
        "单项判定 合格 合格 合格 合格 合格 合格",
    ]);
    assert_eq!(field(&read.fields, "pollutants.ph").value, json!(6.8), "pH furthest from neutral");
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(310.0), "the worst sampling point");
    assert_eq!(field(&read.fields, "pollutants.las").value, json!(0.52));
    assert_eq!(field(&read.fields, "pollutants.tp").value, json!(2.1));
    assert!(read.unread.is_empty(), "{:?}", read.unread);
    // A row that does not line up with the items is named, not guessed.
    let read = results(&["项目 pH值 化学需氧量 总镍", "W1 7.2 236 2.1", "W2 7.1 240"]);
    assert_eq!(field(&read.fields, "pollutants.ni").value, json!(2.1));
    assert_eq!(read.unread.len(), 1, "{:?}", read.unread);
}

#[test]
fn coliforms_in_scientific_notation() {
    let read = results(&["检测项目 单位 检测结果 标准限值", "粪大肠菌群 MPN/L 2.2×10³ 5000", "总余氯 mg/L 3.2 8"]);
    assert_eq!(field(&read.fields, "pollutants.coliform").value, json!(2200.0));
    let read = results(&["检测项目 单位 检测结果", "粪大肠菌群数 MPN/100mL 1.3E+03"]);
    assert_eq!(field(&read.fields, "pollutants.coliform").value, json!(13000.0), "per 100 mL is ten times fewer than per litre");
}

#[test]
fn a_long_item_name_wrapped_in_its_cell_is_joined() {
    let read = results(&["序号 检测项目 单位 检测结果 标准限值", "5 阴离子表面", "活性剂 mg/L 0.52 20"]);
    assert_eq!(field(&read.fields, "pollutants.las").value, json!(0.52));
    assert!(read.unread.is_empty(), "{:?}", read.unread);
}

#[test]
fn a_report_written_as_prose_gives_its_client_and_sampling_date() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
    let read = reader.read(&lines(&[
        "受无锡市新吴区张记餐饮店委托，我公司于2026年8月19日对其位于无锡市新吴区长江路21号的排水进行了",
        "采样，样品于2026年8月20日至2026年8月22日完成分析。报告日期：2026年8月25日",
    ]));
    assert_eq!(field(&read, "client").value, json!("无锡市新吴区张记餐饮店"));
    assert_eq!(field(&read, "sampling_date").value, json!("2026-08-19"));
    assert!(field(&read, "sampling_date").confidence >= 0.9, "{:?}", field(&read, "sampling_date"));
}

#[test]
fn an_element_inside_a_method_name_is_not_that_element() {
    let read = results(&["检测项目 检测方法 检出限 检测结果", "化学需氧量 HJ 828-2017 重铬酸盐法 4 132 mg/L", "铬 mg/L 0.03"]);
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(132.0));
    assert_eq!(field(&read.fields, "pollutants.cr").value, json!(0.03));
}

#[test]
fn the_last_item_of_a_sentence_may_have_its_value_on_the_next_line() {
    let read = results(&["经检测，pH值为7.4，悬浮物为36毫克/升，阴离子表面活性剂", "为6.2毫克/升。"]);
    assert_eq!(field(&read.fields, "pollutants.las").value, json!(6.2));
    assert!(read.unread.is_empty(), "{:?}", read.unread);
}

#[test]
fn repeat_samples_under_one_results_header_give_the_worst() {
    let read = results(&["检测项目 单位 检测结果 标准限值", "第一次 第二次 第三次 均值", "化学需氧量(CODCr) mg/L 196 204 181 194 ≤500"]);
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(204.0));
    assert_eq!(field(&read.fields, "pollutants.cod").confidence, CONF_RESULT_CLEAR);
}

#[test]
fn a_prose_date_in_another_clause_is_not_the_sampling_date() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
    let read = reader.read(&lines(&[
        "受无锡市新吴区某某店委托，我公司于2026年9月21日对其位于无锡市新吴区长江路",
        "298号的排水（W1）进行了采样，并于2026年9月28日完成分析。",
    ]));
    assert_eq!(field(&read, "sampling_date").value, json!("2026-09-21"));
}

#[test]
fn a_numbered_row_wrapped_over_several_lines_is_read_as_one_row() {
    // Number, unit, result and limit on the row's first line; name and method wrapped under it.
    let read = results(&[
        "序号 检测项目 分析方法 单位 检测结果 限值",
        "1 mg/L 212 ≤500",
        "化学需氧 HJ 828-2017",
        "量(CODCr) 重铬酸盐法",
        "2 mg/L 9.6 ≤45",
        "氨氮(以 HJ 535-2009",
        "N计) 纳氏试剂分光光度法",
        "3 mg/L 77 ≤400",
        "悬浮物 GB/T 11901-1989",
    ]);
    // Before rows were grouped by their numbers, the next row's number (2, 3) was taken for these.
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(212.0));
    assert_eq!(field(&read.fields, "pollutants.nh3n").value, json!(9.6));
    assert_eq!(field(&read.fields, "pollutants.ss").value, json!(77.0));
    assert!(read.unread.is_empty(), "{:?}", read.unread);
    // A row number lost on one row (2 misread as Z) does not end the grouping of the next.
    let read = results(&[
        "序号 检测项目 分析方法 单位 检测结果 限值",
        "1 mg/L 212 ≤500",
        "化学需氧 HJ 828-2017",
        "量(CODCr) 重铬酸盐法",
        "Z mg/L 9.6 ≤45",
        "氨氮 HJ 535-2009",
        "3 mg/L 77 ≤400",
        "悬浮物 GB/T 11901-1989",
    ]);
    assert_eq!(field(&read.fields, "pollutants.ss").value, json!(77.0));
    assert_ne!(field(&read.fields, "pollutants.cod").value, json!(3.0), "never the next row's number");
    // Numbers on two of a row's lines cannot be matched to the columns by order: doubtful, or unread.
    let read = results(&["序号 项目 检出限 单位 结果 限值", "1 mg/L 612 ≤500", "化学需氧量 4"]);
    let cod = read.fields.iter().find(|f| f.path == "pollutants.cod");
    assert!(cod.map_or(!read.unread.is_empty(), |f| f.confidence < 0.9), "{:?} {:?}", read.fields, read.unread);
    // The name first, the method and the numbers on the row's second line.
    let read = results(&["序号 项目 检测依据 单位 结果 标准限值", "1 NH3-", "N HJ 535-2009", "纳氏试剂分光光度法 mg/L 31.5 45"]);
    assert_eq!(field(&read.fields, "pollutants.nh3n").value, json!(31.5));
}

#[test]
fn an_item_name_broken_at_a_lines_end_in_prose_is_joined() {
    let read = results(&["检测结果如下：pH值为7.1；化学", "需氧量：388 mg/l；总磷：2.6 mg/l。"]);
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(388.0));
    assert_eq!(field(&read.fields, "pollutants.tp").value, json!(2.6));
    // A sentence of limits that wraps names limits on its second line too, not results.
    let read = results(&[
        "检测结果：阴离子表面活性剂为4.4毫克/升。",
        "上述项目满足B级标准限值要求（化学需氧量500毫克/升、阴",
        "离子表面活性剂20毫克/升）。",
    ]);
    assert_eq!(field(&read.fields, "pollutants.las").value, json!(4.4));
    assert_eq!(field(&read.fields, "pollutants.las").confidence, CONF_RESULT_CLEAR);
    // A result on the line a list of limits wrapped onto is read, not dropped as a limit.
    let read = results(&["氨氮38mg/L，标准限值要求（45mg/L、", "总镍1.5mg/L）。"]);
    assert_eq!(field(&read.fields, "pollutants.ni").value, json!(1.5));
}

#[test]
fn a_sideways_header_cell_that_wraps_is_placed_by_the_limits_row() {
    // 化学需氧量 wraps under the header row; the limits row says which column is its.
    let header = ["点位 pH 悬浮物 氨氮 总镍", "化学需氧量", "(CODCr)", "单位 无量纲 mg/L mg/L mg/L mg/L"];
    let mut texts = header.to_vec();
    texts.extend(["W1 7.4 321 55 12.5 0.3", "W2 7.6 280 61 13.0 1.7", "限值 6.5-9.5 ≤500 ≤400 ≤45 ≤1"]);
    let read = results(&texts);
    assert_eq!(field(&read.fields, "pollutants.cod").value, json!(321.0));
    assert_eq!(field(&read.fields, "pollutants.ss").value, json!(61.0));
    assert_eq!(field(&read.fields, "pollutants.ni").value, json!(1.7));
    assert!(read.unread.is_empty(), "{:?}", read.unread);
    // Without a limits row the column is not known: the rows are named, nothing is guessed.
    let read = results(&texts[..texts.len() - 1]);
    assert!(read.fields.is_empty(), "{:?}", read.fields);
    assert_eq!(read.unread.len(), 2, "{:?}", read.unread);
}

#[test]
fn two_pairs_to_a_row_end_at_the_second_label_named_or_not() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
    // 项目地址 and 样品状态 are in no list: they end the value as labels by their head nouns.
    let read = reader.read(&lines(&[
        "委托单位 无锡市新吴区某某面馆 项目地址 无锡市新吴区长江路8号",
        "检测单位 江苏某某检测有限公司 样品状态 微黄、无异味",
    ]));
    assert_eq!(field(&read, "client").value, json!("无锡市新吴区某某面馆"));
    assert_eq!(field(&read, "lab").value, json!("江苏某某检测有限公司"));
}

#[test]
fn a_report_names_its_lab_in_its_letterhead_and_its_client_before_the_commission() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["water_quality_report"], &rules.documents);
    let read = reader.read(&lines(&[
        "无锡某某环境检测有限公司",
        "无锡市新吴区某路1号 电话：0510-1234567",
        "检测报告",
        "无锡市新吴区某某洗车行委托我单位对其排水进行检测。采样时间：2026年09月17日；",
    ]));
    assert_eq!(field(&read, "lab").value, json!("无锡某某环境检测有限公司"));
    assert_eq!(field(&read, "client").value, json!("无锡市新吴区某某洗车行"));
}

#[test]
fn an_id_card_address_on_two_lines_is_read_whole() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["id_card"], &rules.documents);
    let read =
        reader.read(&lines(&["姓名 王某", "住址 江苏省无锡市新吴区旺庄街道", "长江北路8号3幢201室", "公民身份号码 320214199001011234"]));
    assert_eq!(field(&read, "address").value, json!("江苏省无锡市新吴区旺庄街道长江北路8号3幢201室"));
}

#[test]
fn results_below_the_detection_limit_are_marked_as_such() {
    let read = results(&[
        "序号 检测项目 单位 标准限值 检测结果 单项判定",
        "1 化学需氧量(CODcr) mg/L 500 236 达标",
        "2 动植物油 mg/L 100 ND 达标",
        "3 总镍 mg/L 1 0.05L 达标",
        "4 总铅 mg/L 0.5 <0.01 达标",
    ]);
    assert_eq!(field(&read.fields, "pollutants.cod").note, None, "a measured number needs no note");
    let oil = field(&read.fields, "pollutants.oil");
    assert_eq!((oil.value.clone(), oil.note.as_deref()), (json!(0.0), Some("未检出，按 0 计")));
    let ni = field(&read.fields, "pollutants.ni");
    assert_eq!((ni.value.clone(), ni.note.as_deref()), (json!(0.05), Some("低于检出限（<0.05），按 0.05 计")));
    assert!(field(&read.fields, "pollutants.pb").note.as_deref().is_some_and(|n| n.contains("<0.01")));
    // Sideways: a point below the limit and another measured; the worst is the measured one.
    let read = results(&["点位 化学需氧量 总镍", "W1 236 ND", "W2 240 0.3", "标准限值 500 1"]);
    assert_eq!(field(&read.fields, "pollutants.ni").note, None, "the worst point was measured");
    let read = results(&["点位 化学需氧量 总镍", "W1 236 ND", "W2 240 <0.02", "标准限值 500 1"]);
    let ni = field(&read.fields, "pollutants.ni");
    assert_eq!((ni.value.clone(), ni.note.as_deref()), (json!(0.02), Some("低于检出限（<0.02），按 0.02 计")));
}

#[test]
fn a_contribution_record_without_a_total_gives_the_sum_of_its_years() {
    let rules = ruleset();
    let reader = KindReader::new(&rules.documents.kinds["contribution_record"], &rules.documents);
    let table = [
        "参保缴费证明",
        "姓名：李四",
        "年度 起止年月 缴费月数 缴费基数（元）",
        "2024 202401-202412 12 5,000",
        "2025 202501-202509 9 5,200",
    ];
    let months = field(&reader.read(&lines(&table)), "months").clone();
    assert_eq!(months.value, json!(21.0));
    assert!(months.note.is_some());
    // A printed total is the reading; the rows are not summed over it.
    let mut with_total = table.to_vec();
    with_total.push("累计缴费月数：240个月");
    let months = field(&reader.read(&lines(&with_total)), "months").clone();
    assert_eq!((months.value, months.note), (json!(240.0), None));
    assert!(months.confidence <= CONF_CONFLICT, "a total the rows do not add up to is doubtful");
    with_total.pop();
    with_total.push("累计缴费月数：21个月");
    let months = field(&reader.read(&lines(&with_total)), "months").clone();
    assert_eq!((months.value, months.confidence), (json!(21.0), CONF_LABEL_COLON));
}
