#!/usr/bin/env python3
"""Time rapidocr-onnxruntime on images: one JSON line per image.

    python3 tools/bench_rapidocr.py [--iterations N] IMAGE...

RapidOCR is loaded once with 2 intra-op threads; each image gets one warm-up
run and then N timed runs of the whole pipeline (det, cls, rec).
"""

import argparse
import json
import math
import time

from rapidocr_onnxruntime import RapidOCR


def percentile(sorted_ms, q):
    # nearest-rank percentile
    k = max(1, math.ceil(q / 100 * len(sorted_ms)))
    return sorted_ms[k - 1]


def main():
    ap = argparse.ArgumentParser(description="Time rapidocr-onnxruntime per image.")
    ap.add_argument("images", nargs="+", metavar="IMAGE")
    ap.add_argument("--iterations", type=int, default=5)
    args = ap.parse_args()

    engine = RapidOCR(intra_op_num_threads=2)
    for image in args.images:
        result, _ = engine(image)  # warm-up
        times = []
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            result, _ = engine(image)
            times.append((time.perf_counter() - t0) * 1000.0)
        times.sort()
        print(json.dumps({
            "image": image,
            "p50_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "lines": [text for _, text, _ in (result or [])],
        }, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
