"""The documentation in ``docs/*.md`` cannot rot: its examples run here.

Conventions of the pages (what this file checks):

* Every fenced ```` ```python ```` block is executed. The blocks of one page run in order
  in one namespace (so a page reads like one session), in a fresh temporary working
  directory (examples may write files).
* A block preceded by the HTML comment ``<!-- no-test -->`` (on the line just before its
  fence) is skipped -- for examples that need a GPU, a Dask cluster or minutes of time.
* A ```` ```text ```` block that follows a Python block (only blank lines between) is the
  output that block prints, and it is compared with what the block prints now: the text
  must be the same up to runs of whitespace, and every number must agree to one unit in
  the last digit shown in the page (and to 1e-9 relative for long ``repr`` values).
  ``<!-- no-output-check -->`` before the Python block turns the comparison off (for
  outputs that depend on the torch build or the machine, e.g. training).
* Every ``l2m-sim ...`` command line in a ```` ```bash ```` block must parse with the real
  argument parser (sub-command and options exist), and every relative Markdown link of a
  page must point to an existing file.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

_FENCE = re.compile(r"^(\s*)```\s*([A-Za-z0-9_+-]*)\s*$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    marker: str  # the HTML comment just before the fence ("" if none)
    output: str | None = None  # the ```text block that follows (Python blocks only)


def parse_blocks(text: str) -> list[Block]:
    """All fenced blocks of a Markdown page, with markers and attached outputs."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    last_nonblank = ""
    between_blank_only = False  # only blank lines since the previous block closed
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                last_nonblank = lines[i].strip()
                between_blank_only = False
            i += 1
            continue
        lang = m.group(2).lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"unclosed code fence at line {start + 1}")
        code = "\n".join(body) + "\n"
        marker = last_nonblank if last_nonblank.startswith("<!--") else ""
        if (lang == "text" and blocks and blocks[-1].lang == "python" and between_blank_only
                and blocks[-1].output is None):
            blocks[-1].output = code
        else:
            blocks.append(Block(lang, code, start + 1, marker))
        i += 1
        last_nonblank = "```"
        between_blank_only = True
    return blocks


def _unit(token: str) -> float:
    """One unit in the last digit shown by a number token (0 for integers)."""
    mant, _, exp = token.lower().partition("e")
    scale = 10.0 ** int(exp) if exp else 1.0
    if "." not in mant:
        return scale if exp else 0.0
    decimals = len(mant.split(".")[1])
    return scale * 10.0 ** (-decimals)


def outputs_agree(documented: str, actual: str) -> tuple[bool, str]:
    """Compare printed output with the documented one (module docstring)."""
    def split(s):
        s = " ".join(s.split())
        return _NUMBER.split(s), _NUMBER.findall(s)

    dtext, dnums = split(documented)
    atext, anums = split(actual)
    if dtext != atext or len(dnums) != len(anums):
        return False, "text differs"
    for d, a in zip(dnums, anums):
        dv, av = float(d), float(a)
        tol = max(_unit(d) * 1.000001, 1e-9 * abs(dv))
        if not (math.isclose(dv, av, abs_tol=tol) or (tol == 0.0 and dv == av)):
            return False, f"number {d} in the page, {a} now (allowed difference {tol:g})"
    return True, ""


def _page_id(path: Path) -> str:
    return path.name


def test_docs_exist():
    names = {p.name for p in PAGES}
    assert {"processes.md", "theory.md", "estimators.md", "models.md", "sweeps.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_python_examples_run_and_print_what_the_page_says(page, tmp_path, monkeypatch):
    blocks = [b for b in parse_blocks(page.read_text()) if b.lang == "python"]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for b in blocks:
        if b.marker == "<!-- no-test -->":
            continue
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile(b.code, f"{page.name}:{b.line}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - report which example failed
            raise AssertionError(f"{page.name}, example at line {b.line} raised "
                                 f"{type(exc).__name__}: {exc}\n{b.code}") from exc
        ran += 1
        if b.output is not None and b.marker != "<!-- no-output-check -->":
            ok, why = outputs_agree(b.output, buf.getvalue())
            assert ok, (f"{page.name}, example at line {b.line}: output differs from the page "
                        f"({why}).\n--- page ---\n{b.output}--- now ---\n{buf.getvalue()}")
    if any(b.lang == "python" for b in blocks):
        assert ran > 0


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_cli_lines_parse(page):
    from l2m_sim.cli import build_parser

    parser = build_parser()
    for b in parse_blocks(page.read_text()):
        if b.lang not in ("bash", "sh", "console"):
            continue
        for raw in b.code.splitlines():
            line = raw.strip()
            if line.startswith("$ "):
                line = line[2:]
            line = line.split(" #", 1)[0].strip()
            for prefix in (".venv/bin/l2m-sim ", "l2m-sim "):
                if line.startswith(prefix):
                    argv = shlex.split(line[len(prefix):])
                    break
            else:
                continue
            try:
                parser.parse_args(argv)
            except SystemExit as e:  # --help / --version exit 0; errors exit 2
                assert e.code == 0, f"{page.name}:{b.line}: `{line}` does not parse"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_relative_links_exist(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
            continue
        assert (page.parent / target).resolve().exists(), f"{page.name}: broken link {target}"


def test_output_comparison_is_strict_enough():
    assert outputs_agree("I = 0.2939 nats", "I  =  0.2940 nats")[0]  # one unit, whitespace
    assert not outputs_agree("I = 0.2939 nats", "I = 0.2941 nats")[0]
    assert not outputs_agree("shape (8, 1024)", "shape (8, 1025)")[0]
    assert not outputs_agree("beta 0.79", "alpha 0.79")[0]
    assert outputs_agree("2.842e-06", "2.843e-06")[0]
    assert not outputs_agree("2.842e-06", "2.845e-06")[0]


def test_block_parser_attaches_outputs_and_markers():
    text = ("<!-- no-test -->\n```python\nprint(1)\n```\n\n```text\n1\n```\n\nprose\n\n"
            "```text\nnot an output\n```\n")
    blocks = parse_blocks(text)
    assert [b.lang for b in blocks] == ["python", "text"]
    assert blocks[0].marker == "<!-- no-test -->" and blocks[0].output == "1\n"
