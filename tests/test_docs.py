"""The documentation against the code: generated parts up to date, examples that run, links that resolve.

- the reference pages (``docs/reference/*.md``) and the generated blocks of ``README.md`` and
  ``docs/*.md`` are exactly what ``python tools/reference_docs.py`` writes now (so the CLI
  options, contender settings, record fields, profiles, the headline table and the paper
  profile's cost cannot drift from the code or the committed results);
- every record field the code names has a description, and a new one without it fails;
- every fenced ``python`` block of ``README.md`` and ``docs/*.md`` runs without error (the
  blocks of one page in order, in one namespace, in a fresh process, in a temporary folder
  that holds a link to the committed ``results/``); a block right after a
  ``<!-- no-test ... -->`` comment is left out; ``bash`` blocks are not run, but every
  ``rcbench`` command in them must parse;
- the plug-in example of ``docs/extending.md`` is the worked example ``GRU_PLUGIN`` of
  ``tests/test_robustness.py``, depending on this suite's distribution;
- ``README.md`` fits in 8 KiB; every relative link in ``README.md`` and ``docs/`` points to an
  existing file (and, for a Markdown file, to an existing heading).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
EXAMPLE_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def generator():
    spec = importlib.util.spec_from_file_location("reference_docs", ROOT / "tools" / "reference_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fenced_blocks(text: str) -> list[tuple[str, int, str, bool]]:
    """``(language, line, code, skipped)`` of each fenced block; skipped when a ``<!-- no-test``
    comment is the last non-blank line before it."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^```(\w*)\s*$", lines[i])
        if not match:
            i += 1
            continue
        start = i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        blocks.append((match.group(1), start + 1, "\n".join(lines[start + 1:end]) + "\n",
                       before.strip().startswith("<!-- no-test")))
        i = end + 1
    return blocks


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ----------------------------------------------------------------------------- generated parts

def test_generated_docs_equal_what_the_generator_writes_now():
    stale = []
    for path, text in generator().expected_files().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            stale.append(relative(path))
    assert not stale, f"out of date: {', '.join(stale)}; run python tools/reference_docs.py and commit the result"


def test_every_record_field_in_the_code_has_a_description():
    generator().check_field_descriptions()


def test_a_record_field_without_a_description_fails(monkeypatch):
    from bench.core import records

    reference = generator()
    monkeypatch.setattr(records, "REQUIRED_FIELDS", (*records.REQUIRED_FIELDS, "brand_new_field"))
    with pytest.raises(reference.UndocumentedField, match="brand_new_field"):
        reference.records_reference()


def test_every_verb_and_option_is_in_the_cli_reference():
    import argparse

    from bench.cli import build_parser

    text = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in verbs.choices.items():
        assert f"## rcbench {name}\n" in text
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in text, f"rcbench {name} {flag}"


def test_the_readme_headline_is_the_table_of_the_committed_report():
    reference = generator()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- generated: headline -->\n(.*?)<!-- end generated: headline -->", readme, re.S)
    assert block is not None, "README.md has no generated headline block"
    assert block.group(1) == reference.headline_block("")
    header, rows = reference.report_table(ROOT / reference.HEADLINE_REPORT, reference.HEADLINE_TASK)
    for row in rows:  # each row's accuracy, copied verbatim from the report
        assert f"| {row[header.index('contender')]} |" in block.group(1)
        assert f" {row[header.index('accuracy')]} |" in block.group(1)


# ----------------------------------------------------------------------------- examples

@pytest.mark.parametrize("page", [page for page in EXAMPLE_PAGES
                                  if any(lang == "python" and not skip
                                         for lang, _, _, skip in fenced_blocks(page.read_text(encoding="utf-8")))],
                         ids=relative)
def test_python_examples_run(page, tmp_path):
    blocks = [(line, code) for lang, line, code, skip in fenced_blocks(page.read_text(encoding="utf-8"))
              if lang == "python" and not skip]
    (tmp_path / "results").symlink_to(ROOT / "results", target_is_directory=True)
    (tmp_path / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    runner = textwrap.dedent(f"""
        import json
        namespace = {{"__name__": "__main__"}}
        for line, code in json.load(open("blocks.json", encoding="utf-8")):
            exec(compile(code, {relative(page)!r} + f" (block at line {{line}})", "exec"), namespace)
    """)
    result = subprocess.run([sys.executable, "-c", runner], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{relative(page)}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"


def rcbench_commands(text: str) -> list[str]:
    """The ``rcbench ...`` commands of the ``bash`` blocks of ``text`` (continuation lines joined;
    a command ends at ``&&``, ``|``, ``;`` or a comment)."""
    commands = []
    for lang, _, code, _ in fenced_blocks(text):
        if lang != "bash":
            continue
        for line in code.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;|\|", line):
                words = shlex.split(part, comments=True)
                if words and words[0] == "rcbench":
                    commands.append(words)
    return commands


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_rcbench_commands_in_bash_blocks_parse(page, capsys):
    from bench.cli import build_parser

    for words in rcbench_commands(page.read_text(encoding="utf-8")):
        try:
            build_parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"{relative(page)}: `{shlex.join(words)}` does not parse: {capsys.readouterr().err}")


def test_the_plugin_example_is_the_worked_example_of_the_tests():
    tree = ast.parse((ROOT / "tests" / "test_robustness.py").read_text(encoding="utf-8"))
    plugin = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                  and any(getattr(target, "id", None) == "GRU_PLUGIN" for target in node.targets))
    blocks = fenced_blocks((ROOT / "docs" / "extending.md").read_text(encoding="utf-8"))
    shown = [code for lang, _, code, _ in blocks if lang == "python" and code.startswith("# rcbench_gru.py\n")]
    assert len(shown) == 1, "docs/extending.md should show rcbench_gru.py once"
    assert shown[0].removeprefix("# rcbench_gru.py\n").strip() == plugin.strip()
    toml = [code for lang, _, code, _ in blocks if lang == "toml" and "rcbench.contenders" in code]
    assert len(toml) == 1 and re.search(r'^dependencies = \["rank-coding-bench"\]', toml[0], re.M), \
        "the plug-in's pyproject.toml must depend on rank-coding-bench"


def test_extending_lists_every_abstract_method_of_a_contender():
    from baselines.registry import Contender

    text = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    for name in Contender.__abstractmethods__:
        assert f"`{name}(" in text, name


# ----------------------------------------------------------------------------- size and links

def test_readme_fits_in_8_kib():
    size = (ROOT / "README.md").stat().st_size
    assert size <= 8192, f"README.md is {size} bytes; move detail to docs/"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # headings in code blocks are not headings
    return {github_anchor(match) for match in re.findall(r"^#{1,6} +(.+?)\s*$", text, re.M)}


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_relative_links_point_to_existing_files(page):
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {relative(resolved)})")
    assert not broken, f"{relative(page)}: broken links: {', '.join(broken)}"
