#!/usr/bin/env python3
"""Decides every fixture package with a onewindow binary and writes each decision JSON to a folder,
so that two binaries' decisions can be compared byte for byte (`diff -r BEFORE AFTER`).

    python3 tools/decision_snapshot.py target/release/onewindow OUT_DIR

It runs the binary in the current directory, so the binary reads the rule set and models of the
checkout it is run from (run it from an older checkout to decide under that checkout's rules).

A package is any folder under fixtures/ with a form.json and an expected.json naming its files and
its date (`at`); its service is expected.json's `service`, or else the drainage permit. The output
is the binary's stdout as it is; a package the binary refuses is written as its exit code and
stderr, so a refusal that changes shows up in the comparison too.
"""

import json
import pathlib
import subprocess
import sys


def packages(root):
    for expected in sorted(root.glob("*/*/expected.json")):
        folder = expected.parent
        if not (folder / "form.json").exists():
            continue
        spec = json.loads(expected.read_text(encoding="utf-8"))
        if "files" not in spec or "at" not in spec:
            continue
        yield folder, spec


def main():
    binary, out = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2])
    repo = pathlib.Path(__file__).resolve().parent.parent
    count = 0
    for folder, spec in packages(repo / "fixtures"):
        service = spec.get("service", "drainage-permit")
        files = [str(folder / name) for name in spec["files"]]
        command = [str(binary), "decide", "--service", service, "--form", str(folder / "form.json"), "--at", spec["at"], *files]
        run = subprocess.run(command, capture_output=True)
        target = out / folder.parent.name / (folder.name + ".json")
        target.parent.mkdir(parents=True, exist_ok=True)
        if run.returncode == 0:
            target.write_bytes(run.stdout)
        else:
            target.write_bytes(b"exit %d\n" % run.returncode + run.stderr)
        count += 1
    print(f"{count} packages decided into {out}")


if __name__ == "__main__":
    main()
