"""Every overlay a page shows (a `cat > … <<JSON5` heredoc in README.md or docs/*.md) is accepted by the image's
entrypoint and the real pinned `openclaw config validate`, merged over the template: copying one from the
docs cannot stop the container with exit 78.

The quick start's Matrix block needs a homeserver and a provider key, so no test runs it whole; this is the
part of it that can be checked without them.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from image.paths import REPO
from pipeline.docs import pages
from tests.test_entry_overlay import openclaw_bin, run_overlay  # noqa: F401 (fixtures)

HEREDOC = re.compile(r"<<('?)JSON5\1\n(.*?)^[ \t]*JSON5$", re.S | re.M)  # indented inside a list item too
SHELL_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")
# What a reader fills in before pasting (the quick start's own Matrix ID); anything else is not expanded.
READER_VALUES = {"ME": "@me:example.org"}


def expand(body: str) -> str:
    """An unquoted heredoc as the shell expands it: the reader's values in, any other `$NAME` is a mistake."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in READER_VALUES, f"${name} in an unquoted heredoc: the shell would expand it"
        return READER_VALUES[name]

    return SHELL_VAR.sub(value, body)


def shown_overlays() -> list[tuple[str, str]]:
    found = []
    for page in pages():
        for i, (quoted, body) in enumerate(HEREDOC.findall(page.read_text())):
            body = textwrap.dedent(body)
            found.append((f"{page.relative_to(REPO)}#{i}", body if quoted else expand(body)))
    return found


OVERLAYS = shown_overlays()


def test_the_docs_show_overlays():
    assert len(OVERLAYS) >= 3


@pytest.mark.parametrize(("where", "overlay"), OVERLAYS, ids=[w for w, _ in OVERLAYS])
def test_shown_overlay_is_accepted(run_overlay, where, overlay):  # noqa: F811
    result = run_overlay({"50-shown.json5": overlay})
    assert result.returncode == 0, f"{where}: {result.stderr}"


def test_a_wrong_overlay_in_the_docs_would_be_caught(run_overlay):  # noqa: F811
    """The check can fail: a misspelt key, as a reader could copy it, is refused."""
    wrong = OVERLAYS[0][1].replace("enabled", "enabeld", 1)
    assert wrong != OVERLAYS[0][1]
    result = run_overlay({"50-shown.json5": wrong})
    assert result.returncode != 0


def test_reader_values_are_the_only_expansion():
    with pytest.raises(AssertionError):
        expand('{ a: "$HOME" }')
