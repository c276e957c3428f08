#!/usr/bin/env python3
"""Write onnxruntime reference inputs and outputs for the Rust OCR executor's
tests, using rapidocr-onnxruntime 1.4.4's own preprocessing on a real page.

    python3 tools/ocr_reference.py

Renders page 1 of fixtures/drainage-permit/clean-catering-stsong/营业执照.pdf
with `pdftoppm -r 100 -png` to tests/data/licence-page.png, runs RapidOCR on
it, and writes

  tests/data/ocr-reference.safetensors
    det.input    F32 [1,3,160,224]  window of rapidocr's det input tensor for the page
    det.output   F32 [1,1,160,224]  onnxruntime output for det.input
    rec.input    F32 [2,3,48,320]   two text-line crops, rec-preprocessed as one batch
    rec.argmax   I64 [2,T]          argmax over classes of the onnxruntime output
    rec.maxprob  F32 [2,T]          max probability over classes
    cls.input    F32 [2,3,48,192]   crop 0 upright, crop 1 turned 180 degrees
    cls.output   F32 [2,2]          onnxruntime output
  tests/data/ocr-reference.json
    decoded rec strings, cls labels, where the det window and the text lines
    came from, and the full rapidocr result (boxes, text, score) for the page.
    "page_box_index" counts the pipeline's sorted det boxes before rapidocr
    drops lines scoring under text_score (0.5).

Needs rapidocr-onnxruntime 1.4.4 (with its onnxruntime, opencv, numpy) and pdftoppm.
"""

import hashlib
import json
import os
import subprocess
import sys

import cv2
import numpy as np
from rapidocr_onnxruntime import RapidOCR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from prepare_models import MODELS, safetensors_bytes  # noqa: E402

PDF = "fixtures/drainage-permit/clean-catering-stsong/营业执照.pdf"
DATA = "tests/data"
PNG = f"{DATA}/licence-page.png"
OUT_ST = f"{DATA}/ocr-reference.safetensors"
OUT_JSON = f"{DATA}/ocr-reference.json"
PNG_LIMIT = 300 * 1024
ST_LIMIT = 1_200_000
DET_H, DET_W = 160, 224


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def render_page():
    for dpi in (100, 90, 80, 72):
        prefix = os.path.join(ROOT, PNG[: -len(".png")])
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", "-singlefile",
             os.path.join(ROOT, PDF), prefix],
            check=True,
        )
        size = os.path.getsize(os.path.join(ROOT, PNG))
        if size <= PNG_LIMIT:
            return dpi, size
    raise SystemExit(f"{PNG} is still larger than {PNG_LIMIT} bytes at 72 dpi")


def f32(a):
    return np.ascontiguousarray(a, dtype="<f4")


def main():
    os.makedirs(os.path.join(ROOT, DATA), exist_ok=True)
    dpi, png_bytes = render_page()
    png_path = os.path.join(ROOT, PNG)

    engine = RapidOCR()
    det_sess = engine.text_det.infer.session
    rec_sess = engine.text_rec.session.session
    cls_sess = engine.text_cls.infer.session

    # ---- the whole page, as rapidocr returns it
    page_result, _ = engine(png_path)
    page = [
        {"box": [[float(v) for v in pt] for pt in box], "text": text, "score": float(score)}
        for box, text, score in (page_result or [])
    ]

    # ---- the same steps RapidOCR.__call__ takes (main.py), one by one
    img = engine.load_img(png_path)  # BGR uint8
    img, ratio_h, ratio_w = engine.preprocess(img)
    op_record = {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}}
    img, op_record = engine.maybe_add_letterbox(img, op_record)
    if op_record["padding_1"]["top"] or ratio_h != 1.0 or ratio_w != 1.0:
        raise SystemExit("page was rescaled or letterboxed; the det window bookkeeping assumes not")

    # det: rapidocr's DetPreProcess on the page, then a window of it with the most ink
    pre = engine.text_det.get_preprocess(max(img.shape[0], img.shape[1]))
    det_page = pre(img)  # [1,3,H,W] float32
    _, _, ph, pw = det_page.shape
    ink = (det_page[0].min(axis=0) < 0).astype(np.int64)  # pixel darker than mid-grey
    integ = np.pad(ink.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best = None
    for y in range(0, ph - DET_H + 1, 32):
        for x in range(0, pw - DET_W + 1, 32):
            n = integ[y + DET_H, x + DET_W] - integ[y, x + DET_W] - integ[y + DET_H, x] + integ[y, x]
            if best is None or n > best[0]:
                best = (int(n), y, x)
    _, wy, wx = best
    det_input = f32(det_page[:, :, wy:wy + DET_H, wx:wx + DET_W])
    det_output = f32(det_sess.run(None, {det_sess.get_inputs()[0].name: det_input})[0])

    # crops exactly as the pipeline makes them
    dt_boxes, _ = engine.auto_text_det(img)
    crops = engine.get_crop_img_list(img, dt_boxes)
    crops_cls, cls_page, _ = engine.text_cls(crops)

    # rec: two lines that fit 48x320 without widening the batch
    _, rec_h, rec_w = engine.text_rec.rec_image_shape
    base_ratio = rec_w / rec_h
    ratios = [c.shape[1] / c.shape[0] for c in crops_cls]
    fits = [i for i, r in enumerate(ratios) if r <= base_ratio]
    if len(fits) < 2:
        raise SystemExit("fewer than two text lines fit 48x320")
    first = max(fits, key=lambda i: (ratios[i], -i))
    rec_page, _ = engine.text_rec(crops_cls)  # the pipeline's own rec pass, in box order
    has_digit = [any(ch.isdigit() for ch in text) for text, *_ in rec_page]
    others = [i for i in fits if i != first and has_digit[i] != has_digit[first]] or \
             [i for i in fits if i != first]
    second = max(others, key=lambda i: (ratios[i], -i))
    picked = [first, second]

    # TextRecognizer.__call__ (text_recognize.py): max_wh_ratio over the batch, then resize_norm_img
    max_wh_ratio = max([base_ratio] + [ratios[i] for i in picked])
    rec_input = f32(np.stack([engine.text_rec.resize_norm_img(crops_cls[i], max_wh_ratio) for i in picked]))
    if rec_input.shape != (2, 3, rec_h, rec_w):
        raise SystemExit(f"rec input shape {rec_input.shape}")
    rec_probs = rec_sess.run(None, {rec_sess.get_inputs()[0].name: rec_input})[0]
    rec_argmax = np.ascontiguousarray(rec_probs.argmax(axis=2), dtype="<i8")
    rec_maxprob = f32(rec_probs.max(axis=2))
    rec_decoded = engine.text_rec.postprocess_op(rec_probs)

    # cls: crop 0 upright, crop 1 turned by 180 degrees (cv2.rotate(img, 1) is what rapidocr undoes)
    cls_imgs = [crops[picked[0]], cv2.rotate(crops[picked[1]], cv2.ROTATE_180)]
    cls_input = f32(np.stack([engine.text_cls.resize_norm_img(c) for c in cls_imgs]))
    cls_output = f32(cls_sess.run(None, {cls_sess.get_inputs()[0].name: cls_input})[0])
    cls_labels = engine.text_cls.postprocess_op(cls_output)

    tensors = {
        "det.input": det_input,
        "det.output": det_output,
        "rec.input": rec_input,
        "rec.argmax": rec_argmax,
        "rec.maxprob": rec_maxprob,
        "cls.input": cls_input,
        "cls.output": cls_output,
    }
    st = safetensors_bytes(tensors)
    if len(st) > ST_LIMIT:
        raise SystemExit(f"{OUT_ST} would be {len(st)} bytes (limit {ST_LIMIT})")
    with open(os.path.join(ROOT, OUT_ST), "wb") as f:
        f.write(st)

    doc = {
        "generator": "tools/ocr_reference.py",
        "package": {"name": "rapidocr-onnxruntime", "version": "1.4.4"},
        "models": {k: {"file": fname, "sha256": sha} for k, fname, sha, _, _ in MODELS},
        "page": {
            "pdf": PDF, "page": 1, "dpi": dpi, "png": PNG, "png_bytes": png_bytes,
            "png_sha256": sha256_file(png_path),
            "height": int(img.shape[0]), "width": int(img.shape[1]),
        },
        "det": {
            "page_input_shape": [int(s) for s in det_page.shape],
            "window": {"y": wy, "x": wx, "h": DET_H, "w": DET_W},
            "note": "det.input is det_page[:, :, y:y+h, x:x+w] of rapidocr's DetPreProcess output for the page",
        },
        "rec": {
            "page_box_index": picked,
            "box": [[[float(v) for v in pt] for pt in dt_boxes[i]] for i in picked],
            "crop_hw": [[int(crops_cls[i].shape[0]), int(crops_cls[i].shape[1])] for i in picked],
            "max_wh_ratio": max_wh_ratio,
            "text": [t for t, _ in rec_decoded],
            "score": [float(s) for _, s in rec_decoded],
        },
        "cls": {
            "page_box_index": picked,
            "rotated_180": [False, True],
            "label": [lab for lab, _ in cls_labels],
            "score": [float(s) for _, s in cls_labels],
        },
        "page_result": page,
    }
    # one top-level key per line, one page line per line
    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))

    parts = []
    for k, v in doc.items():
        if k == "page_result":
            body = ",\n".join("  " + dump(line) for line in v)
            parts.append(f' "page_result": [\n{body}\n ]')
        else:
            parts.append(f" {dump(k)}: {dump(v)}")
    with open(os.path.join(ROOT, OUT_JSON), "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(parts) + "\n}\n")

    print(f"{PNG}: {dpi} dpi, {img.shape[1]}x{img.shape[0]}, {png_bytes} bytes")
    print(f"{OUT_ST}: {len(st)} bytes")
    print(f"det window y={wy} x={wx} of {list(det_page.shape)}; "
          f"det.output max {float(det_output.max()):.4f}")
    print(f"rec: {[t for t, _ in rec_decoded]}  cls: {[(lab, round(float(s), 4)) for lab, s in cls_labels]}")
    print(f"page: {len(page)} lines")


if __name__ == "__main__":
    main()
