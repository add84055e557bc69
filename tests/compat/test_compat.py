"""Drop-in compatibility with Graflow 0.2: the same programs give the same output, or a documented difference.

Every ``programs/<name>.py`` is written only against the Graflow 0.2 public API and prints deterministic lines,
grouped into sections that start with a ``--- <section> ---`` line. Next to it:

- ``<name>.expected``: a header of ``#`` lines closed by ``# ---``, then the exact stdout of the program on this
  engine. A header line ``# differs-by: D<n>[, D<m> ...] @ <section>`` declares that the output of ``<section>``
  differs from Graflow 0.2 because of those decisions of DECISIONS.md. ``UNDECIDED`` in place of a decision marks
  a difference meant to stay that no decision documents yet; check 2 fails until one does.
- ``<name>.upstream``: the exact stdout of the program on ``graflow==0.2.0``; present only when the expected file
  declares a difference.

The checks:

1. our output equals ``.expected`` (runs everywhere, CI included);
2. the recorded upstream output differs from ours in exactly the declared sections, each declared with an
   allowed decision (D1-D18, D25, G1-G8), so an undocumented difference cannot be recorded (runs everywhere);
3. the program's output on the reference interpreter equals the recorded upstream output (skipped, with the
   reason, unless ``GRAFLOW_REF_PYTHON`` names an interpreter with ``graflow==0.2.0``; see docs/development.md).

A last check keeps ``docs/guide.md`` honest: each of its code blocks must still be, word for word, in the example,
program or recorded output named on the line before the block.

An ``.expected`` body may hold lines this engine does not print yet: where a difference from Graflow 0.2 is a bug
(no decision explains it), the expected line is Graflow 0.2's and the first check fails until the engine is fixed.

To record outputs after a deliberate change, run ``python tests/compat/test_compat.py --record``: it rewrites the
bodies from fresh runs (overwriting such expected lines too) and keeps the headers; review the diff line by line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "programs"
REF_PYTHON = Path(os.environ["GRAFLOW_REF_PYTHON"]) if os.environ.get("GRAFLOW_REF_PYTHON") else None

#: Decisions that may explain a difference in these programs: graph, engine, data flow, handlers, rendering.
#: D-ids are the project's decision record; G-ids are the further differences listed in docs/compatibility.md.
ALLOWED_DECISIONS = frozenset({*(f"D{n}" for n in range(1, 19)), "D25", *(f"G{n}" for n in range(1, 9))})
#: Seconds a program may run (the slowest sleeps through a few short retry back-offs).
PROGRAM_TIMEOUT = 120
#: Bounds on the size of the suite: enough programs to cover the surface, few enough to stay readable.
MIN_PROGRAMS, MAX_PROGRAMS = 12, 26

HEADER_END = "# ---"
SECTION = re.compile(r"^--- (?P<name>.+) ---$")
DIFFERS_BY = re.compile(
    r"^# differs-by: (?P<decisions>(?:[DG]\d+|UNDECIDED)(?:, (?:[DG]\d+|UNDECIDED))*) @ (?P<section>.+)$"
)
#: Marks a difference that is meant to stay but that DECISIONS.md does not document yet: the check fails until it does.
UNDECIDED = "UNDECIDED"


@dataclass(frozen=True)
class Recorded:
    """One recorded output file: its header lines and its body (the exact stdout)."""

    header: list[str]
    body: str

    @classmethod
    def read(cls, path: Path) -> Recorded:
        text = path.read_text(encoding="utf-8")
        header: list[str] = []
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            stripped = line.rstrip("\n")
            if stripped == HEADER_END:
                return cls(header, "".join(lines[i + 1:]))
            if not stripped.startswith("#"):
                break
            header.append(stripped)
        raise AssertionError(f"{path.name}: the header must be '#' lines closed by a '{HEADER_END}' line")

    def differences(self) -> dict[str, set[str]]:
        """``{section: {decision, ...}}`` declared by the header."""
        declared: dict[str, set[str]] = {}
        for line in self.header:
            match = DIFFERS_BY.match(line)
            if match:
                assert match["section"] not in declared, f"section {match['section']!r} is declared twice"
                declared[match["section"]] = set(match["decisions"].split(", "))
            elif line.startswith("# differs-by"):
                raise AssertionError(f"malformed header line {line!r}: use '# differs-by: D<n>[, D<m>] @ <section>'")
        return declared


def sections(output: str) -> dict[str, str]:
    """Split program output into ``{section name: text}`` (lines before the first section go to ``""``)."""
    found: dict[str, list[str]] = {"": []}
    current = ""
    for line in output.splitlines():
        match = SECTION.match(line)
        if match:
            current = match["name"]
            assert current not in found, f"section {current!r} appears twice"
            found[current] = []
        else:
            found[current].append(line)
    return {name: "\n".join(lines) for name, lines in found.items()}


def run_program(python: Path | str, program: Path, cwd: Path, *, ours: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if ours:
        env["PYTHONPATH"] = str(ROOT)
    env["PYTHONHASHSEED"] = "0"
    return subprocess.run([str(python), str(program)], capture_output=True, text=True, timeout=PROGRAM_TIMEOUT,
                          env=env, cwd=cwd)


PROGRAM_FILES = sorted(PROGRAMS.glob("*.py"))
IDS = [p.stem for p in PROGRAM_FILES]


def test_the_suite_has_a_reviewable_number_of_programs_each_with_its_expected_output() -> None:
    assert MIN_PROGRAMS <= len(PROGRAM_FILES) <= MAX_PROGRAMS
    expected = {p.stem for p in PROGRAMS.glob("*.expected")}
    assert expected == set(IDS), "every program needs a .expected file, and every .expected file a program"
    upstream = {p.stem for p in PROGRAMS.glob("*.upstream")}
    assert upstream <= set(IDS)


@pytest.mark.parametrize("program", PROGRAM_FILES, ids=IDS)
def test_program_prints_its_expected_output_on_this_engine(program: Path, tmp_path: Path) -> None:
    # given a program written against the Graflow 0.2 API
    expected = Recorded.read(program.with_suffix(".expected"))
    # when it runs on this engine, in an empty directory
    proc = run_program(sys.executable, program, tmp_path, ours=True)
    # then it exits cleanly, prints exactly the recorded lines, and leaves no files behind (D26)
    assert proc.returncode == 0, f"{program.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout == expected.body
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("program", PROGRAM_FILES, ids=IDS)
def test_every_difference_from_graflow_0_2_is_a_documented_decision(program: Path) -> None:
    # given our recorded output and, when it differs, Graflow 0.2's recorded output
    expected = Recorded.read(program.with_suffix(".expected"))
    declared = expected.differences()
    upstream_file = program.with_suffix(".upstream")
    if not declared:
        assert not upstream_file.exists(), f"{upstream_file.name} is recorded but no difference is declared"
        return
    assert upstream_file.exists(), f"{program.stem} declares differences but has no {upstream_file.name}"
    upstream = Recorded.read(upstream_file)
    # then each declared decision is one that may differ, and the outputs differ in exactly the declared sections
    undecided = sorted(section for section, decisions in declared.items() if UNDECIDED in decisions)
    assert not undecided, f"differences from Graflow 0.2 that DECISIONS.md does not document yet: {undecided}"
    decisions = set().union(*declared.values())
    assert decisions <= ALLOWED_DECISIONS, f"not a decision that may explain these outputs: {sorted(decisions)}"
    ours_by_section, theirs_by_section = sections(expected.body), sections(upstream.body)
    assert list(ours_by_section) == list(theirs_by_section), "both outputs must have the same sections in order"
    differing = {name for name in ours_by_section if ours_by_section[name] != theirs_by_section[name]}
    assert differing == set(declared), (
        f"undeclared differences: {sorted(differing - set(declared))}; "
        f"declared but identical: {sorted(set(declared) - differing)}"
    )


@pytest.mark.parametrize("program", PROGRAM_FILES, ids=IDS)
def test_program_prints_the_recorded_output_on_graflow_0_2(program: Path, tmp_path: Path) -> None:
    if REF_PYTHON is None:
        pytest.skip("GRAFLOW_REF_PYTHON is not set: it names the graflow==0.2.0 interpreter to compare with (see "
                    "docs/development.md); the recorded upstream outputs are still checked against ours")
    if not REF_PYTHON.exists():
        pytest.skip(f"GRAFLOW_REF_PYTHON={REF_PYTHON} does not exist; the recorded upstream outputs are still "
                    f"checked against ours")
    # given the recorded upstream output (the expected file's body when no difference is declared)
    upstream_file = program.with_suffix(".upstream")
    recorded = Recorded.read(upstream_file if upstream_file.exists() else program.with_suffix(".expected"))
    # when the program runs on Graflow 0.2 (in an empty directory: 0.2 writes ./feedback_data)
    proc = run_program(REF_PYTHON, program, tmp_path, ours=False)
    # then it prints exactly what was recorded
    assert proc.returncode == 0, f"{program.name} failed on graflow 0.2:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout == recorded.body


GUIDE = ROOT / "docs" / "guide.md"
FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")
SNIPPET_SOURCE = re.compile(r"`(?P<path>(?:examples|tests/compat/programs)/[\w./-]+\.(?:py|expected))`")


def guide_snippets() -> list[tuple[int, str | None, list[str]]]:
    """``(line number, source path named just before the block, block lines)`` for each fenced block."""
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    snippets: list[tuple[int, str | None, list[str]]] = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            before = next((line for line in reversed(lines[:i]) if line.strip()), "")
            sources = SNIPPET_SOURCE.findall(before)
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            snippets.append((i + 1, sources[-1] if sources else None, lines[i + 1:end]))
            i = end
        i += 1
    return snippets


def contains_block(text: str, block: list[str]) -> bool:
    """Whether ``block`` appears as consecutive lines of ``text``, up to a common indentation."""
    wanted = textwrap.dedent("\n".join(block)).splitlines()
    lines = text.splitlines()
    for start in range(len(lines) - len(wanted) + 1):
        if textwrap.dedent("\n".join(lines[start:start + len(wanted)])).splitlines() == wanted:
            return True
    return False


def test_every_code_block_of_the_guide_is_taken_from_a_tested_file() -> None:
    # given the user guide, whose code blocks each name their source on the line before the block
    snippets = guide_snippets()
    assert snippets, "the guide has no code blocks"
    for line_no, source, block in snippets:
        # then the source is an example or a compatibility program (or its recorded output) ...
        assert source is not None, f"guide.md:{line_no}: name the example or program this block comes from"
        path = ROOT / source
        assert path.exists(), f"guide.md:{line_no}: {source} does not exist"
        text = Recorded.read(path).body if path.suffix == ".expected" else path.read_text(encoding="utf-8")
        # ... and the block is still in it, word for word
        assert contains_block(text, block), f"guide.md:{line_no}: this block is no longer in {source}"


def _record() -> None:
    """Rewrite the recorded bodies from fresh runs, keeping every header (review the diff afterwards)."""
    import tempfile

    failed: list[str] = []
    for program in PROGRAM_FILES:
        targets = [(program.with_suffix(".expected"), sys.executable, True)]
        if REF_PYTHON is not None and REF_PYTHON.exists():
            targets.append((program.with_suffix(".upstream"), REF_PYTHON, False))
        outputs = {}
        for path, python, ours in targets:
            with tempfile.TemporaryDirectory() as cwd:
                proc = run_program(python, program, Path(cwd), ours=ours)
            if proc.returncode != 0:
                print(f"{program.name} failed ({'ours' if ours else 'graflow 0.2'}):\n{proc.stderr}")
                failed.append(program.stem)
                break
            outputs[path] = proc.stdout
        if program.stem in failed:
            continue
        expected_path = program.with_suffix(".expected")
        header = Recorded.read(expected_path).header if expected_path.exists() else [f"# compat: {program.stem}"]
        expected_path.write_text("\n".join([*header, HEADER_END]) + "\n" + outputs[expected_path], encoding="utf-8")
        upstream_path = program.with_suffix(".upstream")
        if upstream_path in outputs:
            if outputs[upstream_path] == outputs[expected_path]:
                upstream_path.unlink(missing_ok=True)
            else:
                upstream_path.write_text(f"# graflow 0.2.0 output of {program.name}\n{HEADER_END}\n"
                                         + outputs[upstream_path], encoding="utf-8")
        print(f"recorded {program.stem}")
    if failed:
        raise SystemExit(f"not recorded: {failed}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        raise SystemExit("usage: python tests/compat/test_compat.py --record")
    _record()
