"""Every ```python and ```bash block of the README and the docs site runs as written, and the site builds.

The conventions (docs/reproducing.md says them to writers):

- A page's blocks run in page order, in one temporary working directory, one test per page (marked
  slow when the page has bash blocks): python blocks in one namespace of a fresh interpreter, bash
  blocks with ``bash -euo pipefail -c``, each in a process group of its own that is killed whole after
  ``BLOCK_TIMEOUT_S``. The venv's bin comes first on ``PATH``, ``BUDGET=4 SEEDS=1
  WORKERS=1 EPOCHS=1`` are exported (the docs write long runs as ``${BUDGET:-100}``), and ``scripts`` links
  to the checkout's ``scripts/``.
- A block right after a line ``<!-- docs-test: skip REASON -->`` is shown, not run; the reason is
  required.
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

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(.*?)-->")
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
# Long runs in the docs read these with a default (``${BUDGET:-100}``): a reader's paste is the full run.
SMALL_RUN = {"BUDGET": "4", "SEEDS": "1", "WORKERS": "1", "EPOCHS": "1"}
BLOCK_TIMEOUT_S = 300

# The interpreter side of a page: its blocks in page order, python ones in one namespace (each compiled
# under its own name, so a traceback points at the page and line), bash ones as subprocesses. A bash block
# runs in a process group of its own, and a timeout kills the group: killing only bash left the command it
# was running alive, holding the test's output pipes open, so the test hung until that command ended.
RUNNER = f"""
import json, os, signal, subprocess, sys
namespace = {{"__name__": "__main__"}}
for lang, label, code in json.load(sys.stdin):
    if lang == "python":
        exec(compile(code, label, "exec"), namespace)
        continue
    print("$ bash block", label, flush=True)
    block = subprocess.Popen(["bash", "-euo", "pipefail", "-c", code], start_new_session=True)
    try:
        returncode = block.wait(timeout={BLOCK_TIMEOUT_S})
    except subprocess.TimeoutExpired:
        os.killpg(block.pid, signal.SIGKILL)
        block.wait()
        sys.exit(f"bash block {{label}} ran past {BLOCK_TIMEOUT_S} s; its processes were killed")
    if returncode:
        sys.exit(f"bash block {{label}} exited with {{returncode}}")
"""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the skip marker's reason ("" when the marker gives none); None: runs

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
        blocks.append(Block(page, i + 1, lang, code + "\n", marker.group(1).strip() if marker else None))
        i = end + 1
    return blocks


def orphan_markers() -> list[str]:
    """``page:line`` of each skip-marker line whose next non-blank line does not open a code block."""
    orphans = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if SKIP.fullmatch(line.strip()):
                after = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), "")
                if not FENCE.match(after):
                    orphans.append(f"{page.relative_to(REPO)}:{i + 1}")
    return orphans


ALL_BLOCKS = [b for page in PAGES for b in blocks_of(page)]


def runnable(page: Path) -> list[Block]:
    """The blocks of ``page`` that run: python and bash, without a skip marker."""
    return [b for b in ALL_BLOCKS if b.page == page and b.lang in ("python", "bash") and b.skip is None]


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
    return env


def fail_with_output(what: str, result: subprocess.CompletedProcess[str]) -> None:
    """Fail the test with the block's name and its output."""
    pytest.fail(f"{what} exited with {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n"
                f"--- stderr\n{result.stderr[-4000:]}", pytrace=False)


def run_page(page: Path, tmp_path: Path) -> None:
    """The page's blocks run in page order, as written, in one temporary directory."""
    (tmp_path / "scripts").symlink_to(REPO / "scripts", target_is_directory=True)
    blocks = [[b.lang, b.label, b.code] for b in runnable(page)]
    result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(blocks), cwd=tmp_path,
                            env=small_run_env(tmp_path), capture_output=True, text=True,
                            timeout=BLOCK_TIMEOUT_S * len(blocks))
    if result.returncode:
        fail_with_output(f"blocks of {page_id(page)}", result)


def _page_test(page: Path) -> type:
    """A test class of its own for ``page``, named after it (``TestPage_docs_envs_md``), so that a failure names
    its page and ``-k`` selects one; xdist spreads the pages over its workers (tests/conftest.py)."""

    def test_blocks_run(self: object, tmp_path: Path) -> None:
        run_page(page, tmp_path)

    test_blocks_run.__doc__ = f"The blocks of {page_id(page)} run as written."
    if any(b.lang == "bash" for b in runnable(page)):  # pages that run commands (searches, trainings) are slow
        test_blocks_run = pytest.mark.slow(test_blocks_run)
    return type(f"TestPage_{re.sub(r'[^0-9a-zA-Z]+', '_', page_id(page))}", (), {
        "__doc__": f"{page_id(page)}.", "test_blocks_run": test_blocks_run})


for _page in PAGES:
    if runnable(_page):
        _cls = _page_test(_page)
        globals()[_cls.__name__] = _cls


def test_every_page_with_blocks_has_its_test() -> None:
    """No page with runnable blocks goes untested."""
    tested = {name for name, value in globals().items() if name.startswith("TestPage_") and isinstance(value, type)}
    assert len(tested) == sum(1 for page in PAGES if runnable(page)) > 20


def test_skip_markers_have_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    """Every skipped block says why, and every marker sits right before a block."""
    skipped = [b for b in ALL_BLOCKS if b.skip is not None]
    assert all(b.skip for b in skipped), [b.label for b in skipped if not b.skip]
    assert orphan_markers() == [], "a docs-test: skip marker must be the line right before a code block"
    with capsys.disabled():
        print(f"\n{len(skipped)} docs blocks shown, not run:")
        for b in skipped:
            print(f"  {b.label} ({b.lang}): {b.skip}")


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
