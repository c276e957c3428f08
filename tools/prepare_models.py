#!/usr/bin/env python3
"""Turn the PaddleOCR ONNX models shipped in rapidocr-onnxruntime 1.4.4 into
files the Rust graph executor reads: one JSON graph and one safetensors file
per model, plus models/MANIFEST.toml.

    python3 tools/prepare_models.py [--wheel-dir DIR | --from-installed] --out models

With neither flag the installed package is used when it is importable,
otherwise the wheel is fetched into a temporary directory. Every input
(the wheel and each .onnx file) is checked against a pinned SHA-256, and
the output is byte-for-byte deterministic.

What is written (models/ocr/{det,rec,cls}.{json,safetensors}):

* every Constant node's value and every graph initializer becomes a tensor
  in the safetensors file, keyed by its output / initializer name
  (floats as F32, every integer type as I64, scalars with shape []);
  Constant nodes are removed from the node list;
* BatchNormalization directly after a Conv whose output has no other
  consumer is folded into that Conv (new weight and bias tensors);
  any other BatchNormalization stays a node; nothing else is rewritten;
* the JSON holds format, source, opset, inputs, outputs and the nodes in
  topological order (for the recogniser also the character list and the
  CTC convention rapidocr uses).

After writing, the files are read back with an independent parser, rebuilt
into an ONNX model and run with onnxruntime against the original model on
a random input; the script fails if the outputs differ by more than 1e-3.

Needs onnx and numpy; onnxruntime only for the verification step.
"""

import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from modelfiles import PrepareError, run, safetensors_bytes, sha256, write_manifest, write_pinned

FORMAT = "onewindow-graph/1"
PACKAGE = "rapidocr-onnxruntime"
PACKAGE_MODULE = "rapidocr_onnxruntime"
VERSION = "1.4.4"
LICENCE = "Apache-2.0"
WHEEL_NAME = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
MANIFEST_COMMAND = "python3 tools/prepare_models.py --out models"
TOLERANCE = 1e-3

# key, file inside rapidocr_onnxruntime/models/, sha256, manifest role, verification input shape
MODELS = [
    (
        "det",
        "ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        "ocr-detection",
        (1, 3, 96, 128),
    ),
    (
        "rec",
        "ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        "ocr-recognition",
        (2, 3, 48, 320),
    ),
    (
        "cls",
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        "ocr-direction",
        (2, 3, 48, 192),
    ),
]


# ---------------------------------------------------------------- sources


def read_from_installed() -> dict:
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise PrepareError(f"{PACKAGE_MODULE} is not installed; use --wheel-dir DIR")
    pkg_dir = list(spec.submodule_search_locations)[0]
    out = {}
    for _, fname, _, _, _ in MODELS:
        path = os.path.join(pkg_dir, "models", fname)
        with open(path, "rb") as f:
            out[fname] = f.read()
    print(f"reading models from installed package at {pkg_dir}")
    return out


def read_from_wheel(wheel_dir: str) -> dict:
    os.makedirs(wheel_dir, exist_ok=True)
    wheel_path = os.path.join(wheel_dir, WHEEL_NAME)
    if not os.path.exists(wheel_path):
        cmd = [
            sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}",
            "--no-deps", "-d", wheel_dir,
        ]
        print("fetching wheel:", " ".join(cmd))
        subprocess.run(cmd, check=True)
    with open(wheel_path, "rb") as f:
        wheel = f.read()
    got = sha256(wheel)
    if got != WHEEL_SHA256:
        raise PrepareError(f"{wheel_path}: sha256 {got}, expected {WHEEL_SHA256}")
    print(f"wheel {wheel_path} sha256 ok")
    out = {}
    with zipfile.ZipFile(io.BytesIO(wheel)) as z:
        for _, fname, _, _, _ in MODELS:
            out[fname] = z.read(f"{PACKAGE_MODULE}/models/{fname}")
    return out


# ---------------------------------------------------------------- conversion


def to_storage(arr: np.ndarray, what: str) -> np.ndarray:
    """Floats become little-endian f32, every integer type little-endian i64."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(arr, dtype="<f4")
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr, dtype="<i8")
    raise PrepareError(f"{what}: unsupported tensor dtype {arr.dtype}")


def constant_value(node) -> np.ndarray:
    if len(node.attribute) != 1:
        raise PrepareError(f"Constant {node.output[0]}: expected one attribute")
    a = node.attribute[0]
    if a.name == "value":
        return numpy_helper.to_array(a.t)
    if a.name == "value_float":
        return np.array(a.f, dtype=np.float32)
    if a.name == "value_floats":
        return np.array(list(a.floats), dtype=np.float32)
    if a.name == "value_int":
        return np.array(a.i, dtype=np.int64)
    if a.name == "value_ints":
        return np.array(list(a.ints), dtype=np.int64)
    raise PrepareError(f"Constant {node.output[0]}: unsupported attribute {a.name}")


def attr_value(node, a):
    where = f"{node.op_type} {node.output[0] if node.output else '?'} attribute {a.name}"
    if a.type == AttributeProto.INT:
        return int(a.i)
    if a.type == AttributeProto.FLOAT:
        return float(a.f)
    if a.type == AttributeProto.INTS:
        return [int(v) for v in a.ints]
    if a.type == AttributeProto.FLOATS:
        return [float(v) for v in a.floats]
    if a.type == AttributeProto.STRING:
        return a.s.decode("utf-8")
    raise PrepareError(f"{where}: unsupported attribute type {AttributeProto.AttributeType.Name(a.type)}")


def dim_json(d):
    if d.HasField("dim_param"):
        return d.dim_param
    if d.HasField("dim_value") and d.dim_value > 0:
        return int(d.dim_value)
    return "?"  # unknown (absent or negative dim_value)


def fold_batchnorm(nodes, tensors, graph_outputs):
    """Fold BatchNormalization into a directly preceding Conv whose output has
    no other consumer. Returns (remaining nodes, number of folds)."""
    consumers = Counter(i for n in nodes for i in n["inputs"] if i)
    for o in graph_outputs:
        consumers[o] += 1
    producer = {o: n for n in nodes for o in n["outputs"] if o}
    folded = 0
    removed = set()
    for bn in nodes:
        if bn["op"] != "BatchNormalization":
            continue
        x = bn["inputs"][0]
        conv = producer.get(x)
        if conv is None or conv["op"] != "Conv" or consumers[x] != 1:
            continue
        if len(bn["inputs"]) != 5 or any(i not in tensors for i in bn["inputs"][1:]):
            continue
        if any(o for o in bn["outputs"][1:]):
            continue  # training-mode outputs in use
        w_name = conv["inputs"][1]
        if w_name not in tensors:
            continue
        b_name = conv["inputs"][2] if len(conv["inputs"]) > 2 else ""
        if b_name and b_name not in tensors:
            continue
        eps = bn["attrs"].get("epsilon", 1e-5)
        gamma, beta, mean, var = (tensors[i].astype(np.float64) for i in bn["inputs"][1:])
        w = tensors[w_name].astype(np.float64)
        b = tensors[b_name].astype(np.float64) if b_name else np.zeros(w.shape[0])
        s = gamma / np.sqrt(var + eps)
        w2 = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
        b2 = (b - mean) * s + beta
        y = bn["outputs"][0]
        new_w, new_b = f"{y}/bn_folded_weight", f"{y}/bn_folded_bias"
        for nm in (new_w, new_b):
            if nm in tensors or nm in producer:
                raise PrepareError(f"name clash for folded tensor {nm}")
        tensors[new_w] = to_storage(w2.astype(np.float32), new_w)
        tensors[new_b] = to_storage(b2.astype(np.float32), new_b)
        conv["inputs"] = [conv["inputs"][0], new_w, new_b]
        conv["outputs"] = [y]
        producer[y] = conv
        removed.add(id(bn))
        folded += 1
    keep = [n for n in nodes if id(n) not in removed]
    return keep, folded


def convert(model_bytes: bytes, fname: str):
    model = onnx.load_from_string(model_bytes)
    g = model.graph
    opsets = {o.domain: o.version for o in model.opset_import}
    if set(opsets) - {"", "ai.onnx"}:
        raise PrepareError(f"{fname}: non-default opset domains {sorted(opsets)}")
    for n in g.node:
        if n.domain not in ("", "ai.onnx"):
            raise PrepareError(f"{fname}: node {n.op_type} in domain {n.domain}")
    if len(g.sparse_initializer):
        raise PrepareError(f"{fname}: sparse initializers are not supported")

    tensors = {}
    for t in g.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            raise PrepareError(f"{fname}: external data for {t.name}")
        tensors[t.name] = to_storage(numpy_helper.to_array(t), t.name)

    nodes = []
    for n in g.node:
        if n.op_type == "Constant":
            name = n.output[0]
            if name in tensors:
                raise PrepareError(f"{fname}: duplicate tensor name {name}")
            tensors[name] = to_storage(constant_value(n), name)
            continue
        nodes.append({
            "op": n.op_type,
            "inputs": list(n.input),
            "outputs": list(n.output),
            "attrs": {a.name: attr_value(n, a) for a in n.attribute},
        })

    inputs = [
        {"name": i.name, "shape": [dim_json(d) for d in i.type.tensor_type.shape.dim]}
        for i in g.input if i.name not in tensors
    ]
    outputs = [o.name for o in g.output]

    nodes, folded = fold_batchnorm(nodes, tensors, outputs)

    # drop tensors no node or output refers to any more (the folded BN parameters
    # and the unfolded Conv weights)
    used = {i for n in nodes for i in n["inputs"] if i} | set(outputs)
    dropped = sorted(k for k in tensors if k not in used)
    for k in dropped:
        del tensors[k]

    # the node list must be topologically ordered
    known = set(tensors) | {i["name"] for i in inputs}
    for n in nodes:
        for i in n["inputs"]:
            if i and i not in known:
                raise PrepareError(f"{fname}: {n['op']} uses {i} before it is produced")
        known.update(o for o in n["outputs"] if o)
    for o in outputs:
        if o not in known:
            raise PrepareError(f"{fname}: graph output {o} is never produced")

    meta = {p.key: p.value for p in model.metadata_props}
    return {
        "nodes": nodes,
        "tensors": tensors,
        "inputs": inputs,
        "outputs": outputs,
        "opset": opsets.get("", opsets.get("ai.onnx")),
        "meta": meta,
        "folded": folded,
        "dropped": len(dropped),
    }


# ---------------------------------------------------------------- writers


def graph_json(key: str, fname: str, file_sha: str, conv: dict) -> bytes:
    doc = {
        "format": FORMAT,
        "source": {"package": PACKAGE, "version": VERSION, "file": fname, "sha256": file_sha},
        "opset": conv["opset"],
        "inputs": conv["inputs"],
        "outputs": conv["outputs"],
        "nodes": conv["nodes"],
    }
    if "character" in conv["meta"]:
        # rapidocr_onnxruntime/utils/infer_engine.py get_character_list: str.splitlines();
        # ch_ppocr_rec/utils.py CTCLabelDecode.get_character: " " appended, "blank" inserted at 0.
        doc["characters"] = conv["meta"]["character"].splitlines()
        doc["ctc"] = {"blank": 0, "append_space": True}
    elif key == "rec":
        raise PrepareError(f"{fname}: no 'character' metadata")
    # one top-level key per line and one node per line, so diffs stay readable
    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))

    parts = []
    for k, v in doc.items():
        if k == "nodes":
            body = ",\n".join("  " + dump(n) for n in v)
            parts.append(f' "nodes": [\n{body}\n ]')
        else:
            parts.append(f" {dump(k)}: {dump(v)}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode("utf-8")


# ---------------------------------------------------------------- verification


def read_safetensors(data: bytes) -> dict:
    """Independent reader: parses the layout without using the writer's state."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    if base % 8:
        raise PrepareError("safetensors data section is not 8-byte aligned")
    out, spans = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": "<f4", "I64": "<i8"}[info["dtype"]]
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - start != count * np.dtype(dt).itemsize:
            raise PrepareError(f"{name}: byte span does not match shape {shape}")
        spans.append((start, end))
        out[name] = np.frombuffer(data, dtype=dt, count=count, offset=base + start).reshape(shape)
    spans.sort()
    pos = 0
    for s, e in spans:
        if s != pos:
            raise PrepareError("safetensors data is not contiguous")
        pos = e
    if base + pos != len(data):
        raise PrepareError("safetensors file has trailing bytes")
    return out


def rebuild_onnx(doc: dict, tensors: dict) -> bytes:
    inits = []
    for name in sorted(tensors):
        a = tensors[name]
        inits.append(numpy_helper.from_array(
            a.astype(np.float32 if a.dtype.kind == "f" else np.int64), name))
    nodes = []
    for n in doc["nodes"]:
        attrs = []
        for k, v in n["attrs"].items():
            if isinstance(v, list) and not v:
                attrs.append(helper.make_attribute(k, v, attr_type=AttributeProto.INTS))
            else:
                attrs.append(helper.make_attribute(k, v))
        node = helper.make_node(n["op"], n["inputs"], n["outputs"])
        node.attribute.extend(attrs)
        nodes.append(node)
    inputs = [helper.make_tensor_value_info(i["name"], TensorProto.FLOAT, i["shape"]) for i in doc["inputs"]]
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in doc["outputs"]]
    graph = helper.make_graph(nodes, "rebuilt", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", doc["opset"])])
    model.ir_version = 8
    return model.SerializeToString()


def run_ort(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def verify(key, original: bytes, json_bytes: bytes, st_bytes: bytes, shape) -> float:
    doc = json.loads(json_bytes.decode("utf-8"))
    tensors = read_safetensors(st_bytes)
    rebuilt = rebuild_onnx(doc, tensors)
    x = np.random.default_rng(20240404).uniform(-1.0, 1.0, size=shape).astype(np.float32)
    want = run_ort(original, x)
    got = run_ort(rebuilt, x)
    if want.shape != got.shape:
        raise PrepareError(f"{key}: output shape {got.shape}, original {want.shape}")
    diff = float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64))))
    print(f"  verify {key}: input {list(shape)} output {list(want.shape)} max abs diff {diff:.3g}")
    if not diff <= TOLERANCE:
        raise PrepareError(f"{key}: max abs diff {diff} exceeds {TOLERANCE}")
    return diff


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--wheel-dir", metavar="DIR",
                     help=f"read the models from {WHEEL_NAME} in DIR (downloaded with pip if absent)")
    src.add_argument("--from-installed", action="store_true",
                     help=f"read the models from the installed {PACKAGE_MODULE} package")
    ap.add_argument("--out", required=True, metavar="DIR", help="output directory (e.g. models)")
    args = ap.parse_args(argv)

    if args.wheel_dir:
        sources = read_from_wheel(args.wheel_dir)
    elif args.from_installed or importlib.util.find_spec(PACKAGE_MODULE) is not None:
        sources = read_from_installed()
    else:
        sources = read_from_wheel(os.path.join(tempfile.gettempdir(), "onewindow-wheels"))

    for _, fname, want, _, _ in MODELS:
        got = sha256(sources[fname])
        if got != want:
            raise PrepareError(f"{fname}: sha256 {got}, expected {want}")
    print("onnx sha256 ok")

    ocr_dir = os.path.join(args.out, "ocr")
    os.makedirs(ocr_dir, exist_ok=True)
    manifest = []
    for key, fname, file_sha, role, shape in MODELS:
        conv = convert(sources[fname], fname)
        st = safetensors_bytes(conv["tensors"])
        js = graph_json(key, fname, file_sha, conv)
        files = [(f"ocr/{key}.json", js), (f"ocr/{key}.safetensors", st)]
        for rel, data in files:
            manifest.append(write_pinned(args.out, rel, data, package=PACKAGE, version=VERSION, source_file=fname,
                                         licence=LICENCE, command=MANIFEST_COMMAND, role=role))
        hist = Counter(n["op"] for n in conv["nodes"])
        print(f"{key} ({fname}): {len(conv['nodes'])} nodes, {conv['folded']} BatchNormalization folded, "
              f"{conv['dropped']} dead tensors dropped")
        print("  ops: " + ", ".join(f"{op} {c}" for op, c in sorted(hist.items(), key=lambda t: (-t[1], t[0]))))
        data_bytes = sum(a.nbytes for a in conv["tensors"].values())
        print(f"  tensors: {len(conv['tensors'])}, {data_bytes} data bytes; "
              f"{key}.safetensors {len(st)} bytes, {key}.json {len(js)} bytes")
        with open(os.path.join(args.out, f"ocr/{key}.json"), "rb") as f:
            js_back = f.read()
        with open(os.path.join(args.out, f"ocr/{key}.safetensors"), "rb") as f:
            st_back = f.read()
        verify(key, sources[fname], js_back, st_back, shape)

    path = write_manifest(args.out, manifest)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run(main, "prepare_models")
