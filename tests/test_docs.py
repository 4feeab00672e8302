"""What the code relies on is written in the repository's own docs/, and comments cite only that:
no document outside the repository, no docs/ file or heading that does not exist, and no
requirement id docs/requirements.md does not define (docs/architecture.md#comments-and-docs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# documents that live outside the repository, and the section sign their citations used
OUTSIDE = re.compile(r"PITFALLS|PROVIDERS\.md|PRODUCT\.md|ARCHITECTURE\.md|§")
# a cited file in the repository, with an optional heading anchor
CITED = re.compile(r"(?<![\w./-])((?:docs/[\w.-]+\.md)|README\.md)(?:#([\w-]+))?")
# a markdown link inside docs/: relative target, optional anchor
LINK = re.compile(r"\]\(([^)\s#]*)(?:#([^)\s]+))?\)")
# a requirement id ("TRK-3"), a range ("FO-1..3") or a wildcard ("FO-*")
ID = re.compile(r"\b([A-Z]{1,5})-(\d+)(?:\.\.(\d+))?(?!\w)")
WILDCARD = re.compile(r"\b[A-Z]{1,5}-\*")
NOT_IDS = {"UTF-8", "UTF-16", "SHA-256", "ISO-8601"}
DEFINED = re.compile(r"^\| ([A-Z]{1,5}-\d+) \|", re.MULTILINE)


def sources() -> Iterator[Path]:
    """Everything that may carry a comment, docstring or prose about the code."""
    for folder in ("kmsg_cli", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != Path(__file__).resolve():
                yield path
    yield ROOT / "README.md"
    yield ROOT / "config.example.toml"


def lines(path: Path) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        yield f"{path.relative_to(ROOT)}:{number}", line


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} (.+)", line)):
            found.add(slug(m.group(1)))
    return found


def defined_ids() -> set[str]:
    return set(DEFINED.findall((DOCS / "requirements.md").read_text(encoding="utf-8")))


def cited_ids(line: str) -> Iterator[str]:
    for m in ID.finditer(line):
        prefix, first, last = m.group(1), int(m.group(2)), m.group(3)
        if f"{prefix}-{first}" in NOT_IDS and last is None:
            continue
        for n in range(first, int(last or first) + 1):
            yield f"{prefix}-{n}"


def check_target(where: str, path: Path, anchor: str | None) -> str | None:
    if not path.is_file():
        return f"{where}: cites {path.relative_to(ROOT)}, which does not exist"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"{where}: {path.relative_to(ROOT)} has no heading #{anchor}"
    return None


def test_nothing_cites_a_document_outside_the_repository() -> None:
    bad = [
        f"{where}: {line.strip()}"
        for path in [*sources(), *sorted(DOCS.glob("*.md"))]
        for where, line in lines(path)
        if OUTSIDE.search(line)
    ]
    assert not bad, "cite docs/ instead:\n" + "\n".join(bad)


def test_cited_docs_and_headings_exist() -> None:
    problems = []
    for path in sources():
        for where, line in lines(path):
            for m in CITED.finditer(line):
                problem = check_target(where, ROOT / m.group(1), m.group(2))
                if problem:
                    problems.append(problem)
    assert not problems, "\n".join(problems)


def test_links_between_docs_resolve() -> None:
    problems = []
    for doc in sorted(DOCS.glob("*.md")):
        for where, line in lines(doc):
            for m in LINK.finditer(line):
                target, anchor = m.group(1), m.group(2)
                if target.startswith(("http://", "https://")):
                    problems.append(f"{where}: links outside the repository: {target}")
                    continue
                path = (doc.parent / target).resolve() if target else doc
                problem = check_target(where, path, anchor)
                if problem:
                    problems.append(problem)
    assert not problems, "\n".join(problems)


def test_every_cited_requirement_id_is_defined() -> None:
    known = defined_ids()
    problems = []
    for path in sources():
        for where, line in lines(path):
            if WILDCARD.search(line):
                problems.append(f"{where}: name the ids, not a wildcard: {line.strip()}")
            problems.extend(
                f"{where}: {rid} is not defined in docs/requirements.md"
                for rid in cited_ids(line)
                if rid not in known
            )
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_are_for() -> None:
    assert OUTSIDE.search("see PITFALLS.md §4") and OUTSIDE.search("(PROVIDERS.md §8.4)")
    assert list(cited_ids("(FO-1..3, TRK-15)")) == ["FO-1", "FO-2", "FO-3", "TRK-15"]
    assert list(cited_ids("not valid UTF-8")) == []
    assert WILDCARD.search("(BYTE-*)")
    assert slug("IWINV delivery status") == "iwinv-delivery-status"
    assert slug("Bulk campaigns: `kmsg send-bulk`") == "bulk-campaigns-kmsg-send-bulk"
    m = CITED.search("docs/providers.md#phone-numbers")
    assert m and m.groups() == ("docs/providers.md", "phone-numbers")
