#!/usr/bin/env python3
"""Counts test cases over every suite run by scripts/test.sh.

A gtest executable counts each of its test cases (from the JSON that GTEST_OUTPUT
wrote); any other test counts once. An executable that Meson saw fail but whose JSON
shows no failing case (a crash, a sanitizer report at exit, a timeout) adds one
failure, so nothing that failed can be summed away.
"""
import json
import pathlib
import sys


def gtest_counts(path):
    data = json.loads(path.read_text())
    passed = failed = skipped = 0
    for suite in data.get("testsuites", []):
        for case in suite.get("testsuite", []):
            if case.get("result") == "SKIPPED" or case.get("status") == "NOTRUN":
                skipped += 1
            elif case.get("failures"):
                failed += 1
            else:
                passed += 1
    return passed, failed, skipped


def main(root):
    root = pathlib.Path(root)
    passed = failed = skipped = 0
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        log = label_dir / "testlog.json"
        gdir = label_dir / "gtest"
        if not log.exists():
            failed += 1
            print(f"{label_dir.name}: no test log (meson test did not run)", file=sys.stderr)
            continue
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            result = entry.get("result")
            exe = pathlib.Path(entry.get("cmd", [""])[0]).name
            gjson = gdir / f"{exe}.json"
            if gjson.exists() and result != "SKIP":
                p, f, s = gtest_counts(gjson)
                passed, failed, skipped = passed + p, failed + f, skipped + s
                if result not in ("OK", "EXPECTEDFAIL") and f == 0:
                    failed += 1
                    print(f"{label_dir.name}/{entry.get('name')}: {result} outside any test case",
                          file=sys.stderr)
                gjson.unlink()  # an executable run twice writes again
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
