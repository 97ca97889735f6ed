"""Every ```python and ```bash block of the README and the docs site runs as written, and the site builds.

The conventions (docs/reproducing.md says them to writers):

- A page's blocks run in page order, in one temporary working directory, one test per page (marked
  slow when the page has bash blocks): python blocks in one namespace of a fresh interpreter, bash
  blocks with ``bash -euo pipefail -c``. The venv's bin comes first on ``PATH``, ``BUDGET=4 SEEDS=1
  WORKERS=1`` are exported (the docs write long runs as ``${BUDGET:-100}``), and ``scripts`` links
  to the checkout's ``scripts/``.
- A block right after a line ``<!-- docs-test: skip REASON -->`` is shown, not run; the reason is
  required.
- A block right after ``<!-- docs-test: needs VAR -->`` reads a file the reader names in ``$VAR`` (the
  NAS-Bench-201 CIFAR table, ``NB201_CIFAR_CSV``): it runs when ``$VAR`` names an existing file where the
  tests run, and is reported as not run otherwise. ``make test`` runs without it (a user's install has no
  such file); CI runs the pages that have such blocks again with it (``-m docs_needs_file``, .ci/run).
- No block mentions ``../shared``: a user has only what the package installs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(.*?)-->")
NEEDS = re.compile(r"<!--\s*docs-test:\s*needs\s+(\w+)\s*-->")
#: The variables ``needs`` blocks may name, and the file each names here (None: unset or absent).
NEEDED = {name: (Path(os.environ[name]) if os.environ.get(name) and Path(os.environ[name]).is_file() else None)
          for name in ("NB201_CIFAR_CSV",)}
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
# Long runs in the docs read these with a default (``${BUDGET:-100}``): a reader's paste is the full run.
SMALL_RUN = {"BUDGET": "4", "SEEDS": "1", "WORKERS": "1"}
BLOCK_TIMEOUT_S = 300

# The interpreter side of a page: its blocks in page order, python ones in one namespace (each compiled
# under its own name, so a traceback points at the page and line), bash ones as subprocesses.
RUNNER = f"""
import json, subprocess, sys
namespace = {{"__name__": "__main__"}}
for lang, label, code in json.load(sys.stdin):
    if lang == "python":
        exec(compile(code, label, "exec"), namespace)
        continue
    print("$ bash block", label, flush=True)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], timeout={BLOCK_TIMEOUT_S})
    if done.returncode:
        sys.exit(f"bash block {{label}} exited with {{done.returncode}}")
"""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the skip marker's reason ("" when the marker gives none); None: runs
    needs: str | None = None  # the variable naming the file the block reads (``needs`` marker), or None

    @property
    def label(self) -> str:
        """``page:line``, how failures name the block."""
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` (indented ones, in lists, dedented), with their skip markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening.groups()
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        code = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1 : end])
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.fullmatch(before)
        needs = NEEDS.fullmatch(before)
        blocks.append(Block(page, i + 1, lang, code + "\n", marker.group(1).strip() if marker else None,
                            needs.group(1) if needs else None))
        i = end + 1
    return blocks


def orphan_markers() -> list[str]:
    """``page:line`` of each skip-marker line whose next non-blank line does not open a code block."""
    orphans = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if SKIP.fullmatch(line.strip()) or NEEDS.fullmatch(line.strip()):
                after = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), "")
                if not FENCE.match(after):
                    orphans.append(f"{page.relative_to(REPO)}:{i + 1}")
    return orphans


ALL_BLOCKS = [b for page in PAGES for b in blocks_of(page)]


def available(block: Block) -> bool:
    """Whether the file a ``needs`` block reads is here (a block with no ``needs`` marker always runs)."""
    return block.needs is None or NEEDED[block.needs] is not None


def runnable(page: Path) -> list[Block]:
    """The blocks of ``page`` that run: python and bash, without a skip marker, with what they need."""
    return [b for b in ALL_BLOCKS
            if b.page == page and b.lang in ("python", "bash") and b.skip is None and available(b)]


def page_id(page: Path) -> str:
    """The test id of a page: its path in the checkout."""
    return str(page.relative_to(REPO))


def small_run_env(tmp_path: Path) -> dict[str, str]:
    """The environment the blocks run in: the venv's commands first, small budgets, a fresh cache."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(SMALL_RUN)
    env["NAS_GYM_CACHE_DIR"] = str(tmp_path / ".cache")
    env["MPLBACKEND"] = "Agg"
    env.update({name: str(path) for name, path in NEEDED.items() if path is not None})
    return env


def fail_with_output(what: str, result: subprocess.CompletedProcess[str]) -> None:
    """Fail the test with the block's name and its output."""
    pytest.fail(f"{what} exited with {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n"
                f"--- stderr\n{result.stderr[-4000:]}", pytrace=False)


# Pages with bash blocks run commands (searches, trainings): those are the slow tests.
PAGE_PARAMS = [
    pytest.param(page, id=page_id(page), marks=[pytest.mark.slow] * any(b.lang == "bash" for b in runnable(page))
                 + [pytest.mark.docs_needs_file] * any(b.needs for b in ALL_BLOCKS if b.page == page))
    for page in PAGES
    if runnable(page)
]


def run_page(page: Path, tmp_path: Path) -> None:
    """The page's blocks run in page order, as written, in one temporary directory."""
    (tmp_path / "scripts").symlink_to(REPO / "scripts", target_is_directory=True)
    blocks = [[b.lang, b.label, b.code] for b in runnable(page)]
    result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(blocks), cwd=tmp_path,
                            env=small_run_env(tmp_path), capture_output=True, text=True,
                            timeout=BLOCK_TIMEOUT_S * len(blocks))
    if result.returncode:
        fail_with_output(f"blocks of {page_id(page)}", result)


def pages(group: str) -> list:
    """The page parameters of one group: the method pages, or the other pages split at the letter 'p'."""
    def group_of(param: Any) -> str:
        name = page_id(param.values[0])
        if name.startswith("docs/methods/"):
            return "methods"
        return "topics_a_o" if Path(name).name.lower() < "p" else "topics_p_z"

    return [param for param in PAGE_PARAMS if group_of(param) == group]


# Three classes, so that pytest-xdist (``--dist loadscope``) spreads the pages over its workers: a whole
# file would be one unit, and these are the longest-running tests of the suite together.
class TestMethodPages:
    """The pages of docs/methods/."""

    @pytest.mark.parametrize("page", pages("methods"))
    def test_page_blocks_run(self, page: Path, tmp_path: Path) -> None:
        """The page's blocks run as written."""
        run_page(page, tmp_path)


class TestTopicPagesAToO:
    """The README and the topic pages from a to o."""

    @pytest.mark.parametrize("page", pages("topics_a_o"))
    def test_page_blocks_run(self, page: Path, tmp_path: Path) -> None:
        """The page's blocks run as written."""
        run_page(page, tmp_path)


class TestTopicPagesPToZ:
    """The topic pages from p to z."""

    @pytest.mark.parametrize("page", pages("topics_p_z"))
    def test_page_blocks_run(self, page: Path, tmp_path: Path) -> None:
        """The page's blocks run as written."""
        run_page(page, tmp_path)


def test_every_page_with_blocks_is_in_one_group() -> None:
    """No page falls between the groups."""
    grouped = pages("methods") + pages("topics_a_o") + pages("topics_p_z")
    assert sorted(page_id(p.values[0]) for p in grouped) == sorted(page_id(p.values[0]) for p in PAGE_PARAMS)


def test_skip_markers_have_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    """Every skipped block says why, and every marker sits right before a block."""
    skipped = [b for b in ALL_BLOCKS if b.skip is not None]
    assert all(b.skip for b in skipped), [b.label for b in skipped if not b.skip]
    assert orphan_markers() == [], "a docs-test: skip marker must be the line right before a code block"
    assert all(b.needs in NEEDED for b in ALL_BLOCKS if b.needs), [b.label for b in ALL_BLOCKS if b.needs]
    missing = [b for b in ALL_BLOCKS if not available(b)]
    with capsys.disabled():
        print(f"\n{len(skipped) + len(missing)} docs blocks shown, not run:")
        for b in skipped:
            print(f"  {b.label} ({b.lang}): {b.skip}")
        for b in missing:
            print(f"  {b.label} ({b.lang}): needs ${b.needs}, which names no file here")


def test_blocks_use_only_installed_files() -> None:
    """No block mentions ../shared, which a user of the package does not have."""
    assert [b.label for b in ALL_BLOCKS if "../shared" in b.code] == []


def test_blocks_are_runnable_languages() -> None:
    """Shell blocks are spelled ``bash`` so they run (``sh``/``shell``/``console`` would be skipped silently)."""
    assert [b.label for b in ALL_BLOCKS if b.lang in ("sh", "shell", "console", "py")] == []


@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict`` passes: every link resolves and every docstring renders."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=600)
    if result.returncode:
        fail_with_output("mkdocs build --strict", result)
