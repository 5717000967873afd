#!/usr/bin/env python3
"""Prints the ninja targets (paths relative to the build dir) that some tests need.

  suite_targets.py BUILD_DIR [--installed] SUITE_OR_TEST...

Each argument names a suite (`interop`, `demo`, `install`) or a test; the
targets are the executables of those tests and what they declare they depend on, and
with --installed everything `meson install` installs (the library and the apps: the
demo runs the apps, the install tests install). scripts/test.sh builds only these in a
build whose other tests run elsewhere, instead of everything.
"""
import json
import os
import subprocess
import sys


def introspect(build, what):
    out = subprocess.run(["meson", "introspect", build, what], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv):
    build, args = os.path.abspath(argv[0]), argv[1:]
    installed = "--installed" in args
    wanted = {a for a in args if a != "--installed"}
    targets = introspect(build, "--targets")
    by_id = {t["id"]: t for t in targets}
    ids = set()
    for test in introspect(build, "--tests"):
        suites = {s.split(":", 1)[-1] for s in test["suite"]}
        if test["name"] in wanted or suites & wanted:
            ids.update(test["depends"])
    if installed:
        ids.update(t["id"] for t in targets if t["installed"])
    paths = {os.path.relpath(f, build) for i in ids if i in by_id for f in by_id[i]["filename"]}
    print("\n".join(sorted(paths)))


if __name__ == "__main__":
    main(sys.argv[1:])
