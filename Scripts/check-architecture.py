#!/usr/bin/env python3
"""Checks that Docs/architecture.md's module table is Package.swift's module graph, that config generation
stays pure, and that no hand-written Swift file is over 600 lines.

  Scripts/check-architecture.py   exit 1, naming every difference, when the table and Package.swift disagree or
                                  SextantGeneration reaches a gRPC, NIO or ServiceLifecycle product, or a file is too long

Reads the package with `swift package dump-package` (no build). The table's rows are `| `Name` | kind | deps | ... |`;
"depends on" lists our own modules only (products of other packages are not listed), "—" for none.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
package = json.loads(subprocess.run(
    ["swift", "package", "--package-path", str(root), "dump-package"],
    check=True, capture_output=True, text=True).stdout)


def dependency_names(target):
    names = []
    for dependency in target["dependencies"]:
        (kind, value), = dependency.items()
        names.append(value[0])
    return names


targets = {t["name"]: t for t in package["targets"]}
ours = {name for name, t in targets.items() if t["type"] != "test"}
problems = []

# 1. The table lists exactly our non-test targets, each with its own-module dependencies.
table = {}
for line in (root / "Docs/architecture.md").read_text().splitlines():
    match = re.match(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", line)
    if match and ("library" in match.group(2) or "executable" in match.group(2)):
        name, _, deps, sentence = (part.strip() for part in match.groups())
        listed = set() if deps in ("—", "-", "") else {d.strip() for d in deps.split(",")}
        table[name] = (listed, sentence)
for name in sorted(ours - table.keys()):
    problems.append(f"Docs/architecture.md: module {name} (Package.swift) is missing from the module table")
for name in sorted(table.keys() - ours):
    problems.append(f"Docs/architecture.md: module {name} is in the table but not in Package.swift")
for name in sorted(ours & table.keys()):
    actual = {d for d in dependency_names(targets[name]) if d in ours}
    listed, sentence = table[name]
    if listed != actual:
        problems.append(
            f"Docs/architecture.md: {name} depends on {', '.join(sorted(actual)) or '—'} in Package.swift, "
            f"the table says {', '.join(sorted(listed)) or '—'}")
    if sentence.count(". ") > 0:
        problems.append(f"Docs/architecture.md: {name} is described in more than one sentence")

# 2. Generation is pure: nothing it reaches (through our modules) is a gRPC, NIO or ServiceLifecycle product.
forbidden = re.compile(r"^(GRPC|NIO|_NIO|ServiceLifecycle|AsyncHTTPClient|Hummingbird)")
seen, stack = set(), ["SextantGeneration"]
while stack:
    name = stack.pop()
    if name in seen:
        continue
    seen.add(name)
    if name in targets:
        stack.extend(dependency_names(targets[name]))
for name in sorted(seen):
    if forbidden.match(name):
        problems.append(f"Package.swift: SextantGeneration reaches {name}; config generation must not depend on it")

# 3. No hand-written Swift file is over 600 lines (generated code excluded).
generated = {"EnvoyAPI", "EnvoyServices", "IstioAPI"}
for path in sorted(list((root / "Sources").rglob("*.swift")) + list((root / "Tests").rglob("*.swift"))):
    if path.relative_to(root).parts[1] in generated:
        continue
    lines = path.read_text().count("\n")
    if lines > 600:
        problems.append(f"{path.relative_to(root)}: {lines} lines; split it (a new concern gets a new file, at most 600)")

for problem in problems:
    print(problem, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-architecture: the module table matches Package.swift ({len(ours)} modules); "
      f"SextantGeneration reaches {', '.join(sorted(seen - {'SextantGeneration'}))}")
