"""The README and docs/: every Python example compiles, the marked ones run, every relative link resolves.

A ```python block preceded by the line `<!-- doc-test: run -->` (invisible once rendered) runs here, in a
database test with an empty handler registry of its own, so an example's handlers neither clash with the
test app's nor stay registered. The other blocks are fragments (settings to append, a line that needs a
request) and are compiled only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs_app import registry

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_MARKER = "<!-- doc-test: run -->"
README_MAX_LINES = 250


@dataclass(frozen=True)
class Example:
    page: Path
    line: int  # of the opening fence, 1-based
    source: str
    runs: bool

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def examples(page: Path) -> list[Example]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found = []
    for number, line in enumerate(lines):
        if line.strip() != "```python":
            continue
        end = next(i for i in range(number + 1, len(lines)) if lines[i].strip() == "```")
        runs = number > 0 and lines[number - 1].strip() == RUN_MARKER
        found.append(Example(page, number + 1, "\n".join(lines[number + 1 : end]) + "\n", runs))
    return found


ALL = [example for page in PAGES for example in examples(page)]
RUNNABLE = [example for example in ALL if example.runs]


def test_the_docs_have_examples_and_some_run():
    assert len(ALL) >= 10
    assert len(RUNNABLE) >= 8


@pytest.mark.parametrize("example", ALL, ids=lambda example: example.name)
def test_example_compiles(example: Example):
    compile(example.source, example.name, "exec")


@pytest.fixture
def own_registry(monkeypatch):
    """An empty handler registry for the example, thrown away after it."""
    monkeypatch.setattr(registry, "_registry", {})


@pytest.mark.django_db
@pytest.mark.parametrize("example", RUNNABLE, ids=lambda example: example.name)
def test_example_runs(example: Example, own_registry):
    exec(compile(example.source, example.name, "exec"), {"__name__": f"docs_example_{example.line}"})


def test_readme_is_a_short_front_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < README_MAX_LINES
    for command in ("make run", "make test"):
        assert command in readme
    for page in ("handlers", "workers", "sweeper", "admin", "api", "recurring", "settings", "guarantees"):
        assert f"docs/{page}.md" in readme


def test_the_quick_start_has_one_settings_block_for_the_install_test():
    """.ci/install_test.sh appends this block, verbatim, to a new project's settings."""
    blocks = [e for e in examples(ROOT / "README.md") if e.source.startswith("# settings.py")]
    assert len(blocks) == 1
    assert '"jobs_app"' in blocks[0].source and "JSONSerializer" in blocks[0].source


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    targets = [match.group(1) for match in LINK.finditer(page.read_text(encoding="utf-8"))]
    missing = [t for t in targets if "://" not in t and not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"
