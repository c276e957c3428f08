"""What the model-preparation tools share: pinning by SHA-256, a safetensors
writer and the models/MANIFEST.toml writer."""

import hashlib
import json
import os
import sys
import tomllib

import numpy as np


class PrepareError(Exception):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


SAFETENSORS_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64", np.dtype("uint8"): "U8"}


def safetensors_bytes(tensors: dict, metadata: dict | None = None) -> bytes:
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        dtype = SAFETENSORS_DTYPES.get(a.dtype)
        if dtype is None:
            raise PrepareError(f"{name}: internal dtype {a.dtype}")
        data = a.tobytes(order="C")
        header[name] = {"dtype": dtype, "shape": [int(s) for s in a.shape],
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    return len(h).to_bytes(8, "little") + h + b"".join(blobs)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    raise PrepareError(f"MANIFEST.toml: cannot write value {v!r}")


def write_manifest(out_dir: str, entries: list):
    """Replace this tool's entries in the manifest and keep every other tool's, ordered by path."""
    path = os.path.join(out_dir, "MANIFEST.toml")
    ours = {e["path"] for e in entries}
    others = []
    if os.path.exists(path):
        with open(path, "rb") as f:
            old = tomllib.load(f)
        extra_keys = set(old) - {"model"}
        if extra_keys:
            raise PrepareError(f"{path}: unexpected top-level keys {sorted(extra_keys)}")
        others = [m for m in old.get("model", []) if m.get("path") not in ours]
    lines = [
        "# Model files under models/, one [[model]] table per file, written by the tool each entry's",
        "# `command` names (tools/prepare_models.py for ocr/*, tools/prepare_encoder.py for encoder/*);",
        "# do not edit by hand.",
    ]
    for e in sorted(others + entries, key=lambda m: m.get("path", "")):
        lines.append("")
        lines.append("[[model]]")
        for k, v in e.items():
            lines.append(f"{k} = {toml_value(v)}")
    with open(path, "wb") as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def write_pinned(out_dir: str, rel: str, data: bytes, *, package: str, version: str, source_file: str,
                 licence: str, command: str, role: str) -> dict:
    """Write one model file under out_dir and return its manifest entry."""
    with open(os.path.join(out_dir, rel), "wb") as f:
        f.write(data)
    return {
        "path": rel, "sha256": sha256(data), "bytes": len(data), "package": package, "version": version,
        "source_file": source_file, "licence": licence, "command": command, "role": role,
    }


def run(main, tool: str):
    """Run a tool's main: its exit code, or 1 with one line on a PrepareError."""
    try:
        sys.exit(main())
    except PrepareError as e:
        print(f"{tool}: error: {e}", file=sys.stderr)
        sys.exit(1)
