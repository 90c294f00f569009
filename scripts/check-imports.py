#!/usr/bin/env python3
"""The layer rule, checked: every module a Swift target imports must be a dependency its
Package.swift entry lists (SwiftPM lets a target import any transitive dependency, so the
compiler alone does not enforce the layers). System modules are allowed everywhere.

  scripts/check-imports.py            # exit 1 and one line per undeclared import
  scripts/check-imports.py --root DIR --package-json FILE   # another tree (the tests use this)
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYSTEM = {"Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Synchronization",
          "Dispatch", "XCTest", "Testing", "_Concurrency", "Swift"}
IMPORT = re.compile(r"^\s*(?:@[\w()]+\s+)*import\s+(?:(?:struct|class|enum|protocol|typealias|func|var|let)\s+)?"
                    r"([A-Za-z_][\w]*)", re.M)


def dependency_names(dep):
    # a target by name, or a package's product: every product used here names its one module
    return {next(iter(dep.values()))[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=REPO)
    ap.add_argument("--package-json", type=Path, help="`swift package dump-package` output (default: run it)")
    args = ap.parse_args()
    if args.package_json:
        package = json.loads(args.package_json.read_text())
    else:
        package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=args.root, check=True,
                                            capture_output=True, text=True).stdout)
    root_dir = args.root
    problems, checked = [], 0
    for t in package["targets"]:
        if t["type"] == "system":
            continue
        root = root_dir / (t.get("path") or ("Tests/" if t["type"] == "test" else "Sources/") + t["name"])
        allowed = set().union(*(dependency_names(d) for d in t["dependencies"])) if t["dependencies"] else set()
        allowed |= SYSTEM | {t["name"]}
        for f in sorted(root.rglob("*.swift")):
            # comments are not code: drop // lines and /* */ blocks before looking
            text = re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)
            text = re.sub(r"//.*", "", text)
            for module in IMPORT.findall(text):
                checked += 1
                if module not in allowed:
                    problems.append(f"{f.relative_to(root_dir)}: imports {module}, which target {t['name']} does not "
                                    f"list in Package.swift")
    for p in problems:
        print(p)
    print(f"check-imports: {checked} imports in {len(package['targets'])} targets, {len(problems)} undeclared",
          file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
