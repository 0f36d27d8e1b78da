"""Every relative link and #anchor in README.md and docs/*.md resolves (no network: web links are not followed).

Anchors are computed the way GitHub renders headings: the heading's text, lower-cased, everything but
letters, digits, `_`, `-` and spaces dropped, each space a `-`, and `-1`, `-2`, … on repeats.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from image.paths import REPO
from pipeline.docs import pages

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def prose(text: str) -> str:
    """The page without fenced blocks and code spans: a link or `#` shown as code is not one."""
    text = FENCE.sub("", text)
    return CODE_SPAN.sub("", text)


def slug(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, heading in HEADING.findall(FENCE.sub("", text)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    """Each link of `page` that names a missing file or a heading its target does not have."""
    problems = []
    for target in LINK.findall(prose(page.read_text())):
        if SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page.resolve()
        if not dest.is_relative_to(root.resolve()) or not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest.read_text())):
            problems.append(f"{target}: no heading #{anchor} in {dest.name}")
    return problems


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_links_resolve(page):
    assert broken_links(page) == []


def test_front_page_links_every_docs_page():
    """The README's links reach every docs/ page, so no page is left without a way in."""
    linked = {(REPO / t.partition("#")[0]).resolve() for t in LINK.findall(prose((REPO / "README.md").read_text()))}
    assert [p.name for p in pages()[1:] if p.resolve() not in linked] == []


def test_github_anchors():
    assert slug("Set up (fresh Debian 12, as root)") == "set-up-fresh-debian-12-as-root"
    assert slug("Backup and restore of `/state`") == "backup-and-restore-of-state"
    assert slug("1. Run it") == "1-run-it"
    assert slug("macOS: build through a Linux builder, run under `podman machine`") == (
        "macos-build-through-a-linux-builder-run-under-podman-machine"
    )
    assert anchors("# A\n## A\n```sh\n# not a heading\n```\n## A\n") == {"a", "a-1", "a-2"}


def test_broken_links_are_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Some part\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n## Here\n\n"
        "[ok](other.md) [ok](other.md#some-part) [ok](#here) [web](https://example.org/x#y) "
        "`[code](missing.md)`\n\n```sh\necho [no](missing.md)\n```\n"
        "[gone](missing.md) [bad anchor](other.md#nowhere) [bad self](#there) ![pic](pic.png) [out](../../x.md)\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading #nowhere in other.md",
        "#there: no heading #there in page.md",
        "pic.png: no such file",
        "../../x.md: no such file",
    ]
