#!/usr/bin/env python3
"""Measures the readers and the decision on a fixture directory: each field's precision and recall
against the values the packages' generator planted, the clean-issue rate and the defect-named rate
per family, false issues, and the cases that differ.

    python3 tools/eval.py target/release/onewindow fixtures/variation/tuning [--jobs 2] [--json OUT]

A package is any folder below the directory with form.json and expected.json (`service`, `at`,
`files`, `outcome`, `failed_rules`, and optionally `family` and `fields`: {file: {decision field
key: value}}). Field values compare as numbers (to 1e-6, relative), as dates or as text with
widths folded, whitespace and a final full stop removed; an expected "below:X" (a result under the detection limit X) matches a reading
of at most X. Run from the checkout whose rules and models the binary should use.

- recall of a field: packages where the decision's value of that key equals the planted one, over
  packages where it was planted;
- precision: of the decision's values of that key (from a document) in packages where it was
  planted, those that equal it;
- clean-issue rate: packages expected `issued` that were issued;
- defect named: packages expected not issued whose every failed rule is among the findings; "first"
  when the first finding is one of them;
- false issue: issued when it should not have been. The one number that must stay 0.
"""

import argparse
import concurrent.futures
import json
import pathlib
import subprocess
import unicodedata
import sys
from collections import defaultdict


def packages(root):
    for expected in sorted(root.rglob("expected.json")):
        folder = expected.parent
        if (folder / "form.json").exists():
            yield folder, json.loads(expected.read_text(encoding="utf-8"))


def decide(binary, folder, spec):
    command = [binary, "decide", "--service", spec.get("service", "drainage-permit"), "--form", str(folder / "form.json"),
               "--at", spec["at"], *[str(folder / f) for f in spec["files"]]]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        return {"error": run.stderr.strip()}
    return json.loads(run.stdout)


def same(expected, actual):
    if isinstance(expected, str) and expected.startswith("below:"):
        try:
            return actual is not None and float(actual) <= float(expected[6:]) + 1e-9
        except (TypeError, ValueError):
            return False
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return abs(float(actual) - expected) <= 1e-6 * max(1.0, abs(expected))
        except (TypeError, ValueError):
            return False
    # Widths folded (the readers give half-width punctuation), whitespace and a closing full stop
    # dropped (the readers end a value before its sentence's 。).
    norm = lambda v: "".join(unicodedata.normalize("NFKC", str(v)).split()).rstrip("。.;；,，")
    return norm(expected) == norm(actual)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("root")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json")
    parser.add_argument("--wrong", action="store_true", help="list every value read wrong or not read")
    args = parser.parse_args()
    root = pathlib.Path(args.root)
    cases = list(packages(root))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        decisions = list(pool.map(lambda c: decide(args.binary, *c), cases))

    planted, right, read = defaultdict(int), defaultdict(int), defaultdict(int)
    family = defaultdict(lambda: {"clean": 0, "issued": 0, "defective": 0, "named": 0, "first": 0})
    false_issues, differing, wrong = [], [], []
    for (folder, spec), decision in zip(cases, decisions):
        name = str(folder.relative_to(root))
        fam = family[spec.get("family", "-")]
        if "error" in decision:
            differing.append(f"{name}: refused: {decision['error']}")
            continue
        outcome, expected = decision["outcome"], spec["outcome"]
        findings = [f["rule"] for f in decision["findings"]]
        if expected == "issued":
            fam["clean"] += 1
            fam["issued"] += outcome == "issued"
        else:
            fam["defective"] += 1
            if outcome == "issued":
                false_issues.append(name)
            wanted = spec.get("failed_rules", []) + [f"materials.{m}" for m in spec.get("missing_materials", [])]
            named = all(r in findings for r in wanted)
            fam["named"] += named
            fam["first"] += bool(findings) and (not wanted or findings[0] in wanted)
        for file, fields in spec.get("fields", {}).items():
            for key, value in fields.items():
                planted[key] += 1
                got = decision["fields"].get(key)
                if got is not None and got.get("source") == "document":
                    read[key] += 1
                    ok = same(value, got["value"])
                    right[key] += ok
                    if not ok:
                        wrong.append(f"{name} {key}: planted {value!r}, read {got['value']!r} from {got.get('line')!r}")
                else:
                    wrong.append(f"{name} {key}: planted {value!r}, not read")
        if outcome != expected or (expected != "issued" and not all(r in findings for r in spec.get("failed_rules", []))):
            top = "; ".join(f"{f['rule']}({f['result']})" for f in decision["findings"][:4])
            differing.append(f"{name}: expected {expected} {spec.get('failed_rules', [])}, got {outcome}: {top}")

    print(f"{len(cases)} packages under {root}")
    print(f"{'field':32} {'planted':>7} {'read':>5} {'right':>5} {'precision':>9} {'recall':>6}")
    for key in sorted(planted):
        precision = right[key] / read[key] if read[key] else float("nan")
        print(f"{key:32} {planted[key]:7} {read[key]:5} {right[key]:5} {precision:9.3f} {right[key] / planted[key]:6.3f}")
    total_read, total_right, total_planted = sum(read.values()), sum(right.values()), sum(planted.values())
    if total_planted:
        print(f"{'all fields':32} {total_planted:7} {total_read:5} {total_right:5} "
              f"{total_right / max(total_read, 1):9.3f} {total_right / total_planted:6.3f}")
    print(f"\n{'family':28} {'clean':>5} {'issued':>6} {'defective':>9} {'named':>5} {'first':>5}")
    for name in sorted(family):
        f = family[name]
        print(f"{name:28} {f['clean']:5} {f['issued']:6} {f['defective']:9} {f['named']:5} {f['first']:5}")
    clean = sum(f["clean"] for f in family.values())
    issued = sum(f["issued"] for f in family.values())
    defective = sum(f["defective"] for f in family.values())
    named = sum(f["named"] for f in family.values())
    print(f"\nclean issued {issued}/{clean}; defect named {named}/{defective}; false issues {len(false_issues)} {false_issues}")
    print("\ndiffering cases:")
    for line in differing:
        print("  " + line)
    if args.wrong:
        print("\nvalues read wrong or not read:")
        for line in sorted(wrong, key=lambda w: w.split(" ", 2)[1]):
            print("  " + line)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(decisions, ensure_ascii=False, indent=1), encoding="utf-8")
    return 1 if false_issues else 0


if __name__ == "__main__":
    sys.exit(main())
