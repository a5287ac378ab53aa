"""Keeps docs/wire-notes.md honest.

Source comments cite protocol facts by section number (a section sign followed by `2.1`, or a
range such as `1.4 to 1.9`). Every cited section, and the parent of every cited subsection,
must be a heading of docs/wire-notes.md, and its headings must be unique.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT / "docs" / "wire-notes.md"

# Written as an escape so that this file cites nothing itself.
SECTION_SIGN = "\u00a7"
NUMBER = r"\d+(?:\.\d+)*"
# One citation, optionally a range: "-" or an en dash ("3.2-3.4"), or " to " ("1.4 to 1.9").
CITATION = re.compile(f"{SECTION_SIGN}({NUMBER})(?:\\s*(?:-|\u2013|to)\\s*{SECTION_SIGN}?({NUMBER}))?")
# A section sign right after an RFC number cites that RFC, not the wire notes.
RFC_BEFORE = re.compile(r"RFC[\s-]*\d+[\s,]*$")
# "## 1. OAuth 2.0 and identity", "### 1.4 Authorization code with PKCE".
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HEADING_NUMBER = re.compile(f"^({NUMBER})\\.?(?:\\s|$)")

SOURCE_SUFFIXES = (".rs", ".py", ".pyi", ".toml", ".sh")
# Searched when git cannot list the files (an unpacked source archive).
SOURCE_DIRS = ("crates", "src", "python", "scripts", "benchmarks", "fuzz/fuzz_targets", "tests")


class Citation(NamedTuple):
    path: str
    line: int
    section: str


class Heading(NamedTuple):
    line: int
    level: int
    text: str
    number: Optional[str]


def skipped(rel: str) -> bool:
    parts = rel.split("/")
    return any(p.startswith(".venv") or p == "target" for p in parts) or rel.startswith("fuzz/corpus/")


def source_files() -> list[str]:
    """Tracked source files, relative to the repository root, with `/` separators."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        files = [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(ROOT).as_posix() for d in SOURCE_DIRS if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*") if p.is_file()]
    return sorted(p for p in files if p.endswith(SOURCE_SUFFIXES) and not skipped(p))


def expand(first: str, last: Optional[str]) -> list[str]:
    """The sections a citation names: `3.2-3.4` is 3.2, 3.3 and 3.4."""
    if last is None:
        return [first]
    a, b = first.split("."), last.split(".")
    if len(a) != len(b):
        # "5.3 - 10 rows" is not a range of sections.
        return [first]
    if a[:-1] == b[:-1] and int(a[-1]) <= int(b[-1]):
        prefix = ".".join(a[:-1] + [""])
        return [f"{prefix}{n}" for n in range(int(a[-1]), int(b[-1]) + 1)]
    return [first, last]


def citations_in(rel: str, text: str) -> Iterator[Citation]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        for m in CITATION.finditer(line):
            if RFC_BEFORE.search(line[: m.start()]):
                continue
            for section in expand(m.group(1), m.group(2)):
                yield Citation(rel, lineno, section)


def citations() -> list[Citation]:
    found: list[Citation] = []
    for rel in source_files():
        path = ROOT / rel
        if not path.is_file():  # deleted in the work tree, not yet in the index
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found.extend(citations_in(rel, text))
    # The notes refer to their own sections too.
    found.extend(citations_in(NOTES.relative_to(ROOT).as_posix(), NOTES.read_text(encoding="utf-8")))
    return found


def headings() -> list[Heading]:
    out: list[Heading] = []
    fenced = False
    for lineno, line in enumerate(NOTES.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            number = HEADING_NUMBER.match(m.group(2))
            out.append(Heading(lineno, len(m.group(1)), m.group(2), number.group(1) if number else None))
    return out


def ancestors(section: str) -> list[str]:
    """The section and each section above it: 1.4 -> 1.4, 1."""
    parts = section.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def test_every_cited_section_has_a_heading() -> None:
    found = citations()
    assert found, "no section citations found: is the source list empty?"
    numbered = {h.number for h in headings() if h.number}
    missing = [
        f"{c.path}:{c.line}: cites {SECTION_SIGN}{c.section}, but docs/wire-notes.md has no heading {s}"
        + ("" if s == c.section else f" (the parent of {c.section})")
        for c in found
        for s in ancestors(c.section)
        if s not in numbered
    ]
    assert not missing, "sections cited without a heading in docs/wire-notes.md:\n" + "\n".join(missing)


def test_headings_are_unique() -> None:
    hs = headings()
    assert hs, "docs/wire-notes.md has no headings"
    problems: list[str] = []
    for kind, keys in (("heading", [h.text for h in hs]), ("section number", [h.number for h in hs if h.number])):
        for key, n in Counter(keys).items():
            if n > 1:
                lines = ", ".join(str(h.line) for h in hs if key in (h.text, h.number))
                problems.append(f"{kind} {key!r} appears {n} times (lines {lines})")
    for h in hs:
        # "## 1." for a section, "### 1.4" for a subsection.
        if h.number and h.level != h.number.count(".") + 2:
            problems.append(f"line {h.line}: section {h.number} has a level-{h.level} heading; expected level {h.number.count('.') + 2}")
    assert not problems, "docs/wire-notes.md headings:\n" + "\n".join(problems)
