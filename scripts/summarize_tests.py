#!/usr/bin/env python3
"""Counts test cases over every suite run by scripts/test.sh.

A gtest executable counts each of its test cases, read from the output Meson kept in
its test log (`[       OK ] Suite.Name (N ms)`, `[  FAILED  ] ... (N ms)`,
`[  SKIPPED ] ... (N ms)`); any other test counts once by its Meson result. An
executable that Meson saw fail but whose output shows no failing case (a crash, a
sanitizer report at exit, a timeout) adds one failure, so nothing that failed can be
summed away.
"""
import json
import pathlib
import re
import sys

CASE = re.compile(r"^\[ +(OK|FAILED|SKIPPED) +\] \S+.* \(\d+ ms\)$", re.M)


def gtest_counts(stdout):
    passed = failed = skipped = 0
    for status in CASE.findall(stdout or ""):
        if status == "OK":
            passed += 1
        elif status == "FAILED":
            failed += 1
        else:
            skipped += 1
    return passed, failed, skipped


def main(root):
    root = pathlib.Path(root)
    passed = failed = skipped = 0
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        log = label_dir / "testlog.json"
        if not log.exists():
            failed += 1
            print(f"{label_dir.name}: no test log (meson test did not run)", file=sys.stderr)
            continue
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            result = entry.get("result")
            p, f, s = gtest_counts(entry.get("stdout", ""))
            if p + f + s > 0 and result != "SKIP":
                passed, failed, skipped = passed + p, failed + f, skipped + s
                if result not in ("OK", "EXPECTEDFAIL") and f == 0:
                    failed += 1
                    print(f"{label_dir.name}/{entry.get('name')}: {result} outside any test case",
                          file=sys.stderr)
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
    for extra in ("build-failures", "fuzz-results"):
        f = root / extra
        if f.exists():
            for line in f.read_text().splitlines():
                if line.endswith("FAIL"):
                    failed += 1
                elif line.endswith("PASS"):
                    passed += 1
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")


if __name__ == "__main__":
    main(sys.argv[1])
