//! The encoder in decisions: materials in titles and wordings the keyword lists have never seen are
//! still recognised, a category the form leaves out is worked out from a scope without any cue word,
//! and what is neither goes to a person.

use onewindow::models::load_all;
use onewindow::reading::TextLine;
use onewindow::rules::RuleSet;
use onewindow::understanding::Understander;

use crate::helpers::repo;

fn understander() -> &'static (Understander, RuleSet) {
    static U: std::sync::OnceLock<(Understander, RuleSet)> = std::sync::OnceLock::new();
    U.get_or_init(|| {
        let rules = RuleSet::load_dir(&repo().join("rules")).unwrap();
        let (_, encoder) = load_all(&repo().join("models"), 1).expect("the shipped models load");
        (Understander::new(&rules, Some(encoder.for_understanding())), rules)
    })
}

fn lines(text: &str) -> Vec<TextLine> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| TextLine::new(1, l, 1.0)).collect()
}

/// Documents written for this test, in none of the titles `rules/documents.toml` lists and unlike the
/// training texts: the kind must still come out right.
const UNSEEN: [(&str, &str); 6] = [
    (
        "water_quality_report",
        "污水排放口水样分析结果单
         送检单位：无锡市新吴区乐福火锅店
         取样时间：2026年10月12日 取样位置：总排口
         分析指标 结果 单位
         CODcr 176 mg/L
         NH3-N 21.4 mg/L
         SS 88 mg/L
         动植物油 6.2 mg/L",
    ),
    (
        "business_licence",
        "市场主体登记证照
         统一社会信用代码 92320214MA7GX1LN5P
         主体名称 无锡市新吴区乐福火锅店
         经营者 周乐福
         组成形式 个人经营
         经营范围 餐饮服务
         经营场所 无锡市新吴区长江路8号",
    ),
    (
        "drainage_plan",
        "店铺下水走向示意
         厨房废水→隔油设施→店外检查井→长江路市政污水管
         屋面雨水经落水管排入雨水井，不与污水混接
         管径 DN200，坡度 2%",
    ),
    (
        "pledge",
        "守信声明
         本店郑重声明：所提交材料真实有效，排水水质符合国家和地方标准，
         如有不实，愿意承担相应法律责任并接受信用惩戒。
         声明人（签字）：周乐福  2026年11月1日",
    ),
    (
        "id_card",
        "姓名 周乐福 性别 男 民族 汉
         出生 1985 年 3 月 9 日
         住址 江苏省无锡市新吴区旺庄街道春潮花园12号
         公民身份号码 320211198503091234",
    ),
    (
        "contribution_record",
        "个人参保缴费情况
         参保人：周乐福 证件号码：320211198503091234
         险种 起止年月 缴费月数
         企业职工基本养老保险 202301-202412 24
         职工基本医疗保险 202301-202412 24",
    ),
];

#[test]
fn materials_in_unseen_titles_and_wordings_are_recognised() {
    let (understander, _) = understander();
    for (kind, text) in UNSEEN {
        let understood = understander.understand(&lines(text));
        eprintln!("{kind}: {:?}", understood.classification);
        assert_eq!(understood.classification.kind, kind, "{text}");
        // Better than chance among ten kinds by a margin; whether it is sure enough to pass without a
        // person depends on the wording (an unseen title is read with less confidence).
        assert!(understood.classification.confidence > 0.3, "{kind}: {:?}", understood.classification);
    }
}

#[test]
fn a_paper_that_is_no_material_is_not_read_as_one_with_confidence() {
    let (understander, _) = understander();
    for text in [
        "本店菜单\n红烧肉 38元\n清蒸鲈鱼 68元\n番茄炒蛋 18元\n米饭 2元\n欢迎光临，祝您用餐愉快",
        "静夜思\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n李白 唐代诗人",
        "会议纪要\n时间：2026年3月5日\n参会人员：张三、李四\n议题：年度预算安排与人员招聘计划",
    ] {
        let understood = understander.understand(&lines(text));
        eprintln!("{:?}", understood.classification);
        assert!(understood.classification.confidence < 0.7, "{text}: {:?}", understood.classification);
    }
}

#[test]
fn a_category_is_worked_out_from_a_scope_without_cue_words() {
    let (understander, rules) = understander();
    for (scope, name, category) in [
        ("汤包、馄饨、面点现做现卖；外卖递送服务", "无锡市新吴区老街坊汤包铺", "catering"),
        ("牙齿矫正、拔牙、补牙、洁牙服务", "无锡新吴区齿康工作室", "medical"),
        ("客房服务；会议接待；旅游咨询", "无锡市新吴区云栖客栈", "hotel"),
    ] {
        let inferred = understander.infer_category(&rules.categories, scope, name).expect("a category");
        eprintln!("{scope}: {inferred:?}");
        assert_eq!(inferred.category, category, "{scope}");
    }
}
