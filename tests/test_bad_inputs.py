"""Every bad input of the catalogue (tests/bad_inputs.py): one line on stderr, exit 2, no traceback, nothing on
disk changed; and the catalogue and docs/reliability.md's table list the same cases."""

import hashlib
import re
from pathlib import Path

import pytest
from bad_inputs import CASES, DOC, END, START, command, make_runs, run_case

from gankit.errors import GankitError


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("bad-input-runs"))


def tree(root: Path) -> dict[str, str]:
    """Every path under root with its content hash (directories: 'dir'), to prove nothing changed."""
    return {
        str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


def test_the_catalogue_has_at_least_30_distinct_bad_inputs():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len({c.what for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing_on_disk(case, runs, tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    if case.setup is not None:
        case.setup(root, runs)
    before = tree(root)
    code, err = run_case(case, root, runs)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("gankit: error: "), err
    assert case.expect in lines[0]
    assert "Traceback" not in err
    assert tree(root) == before  # no half-made run directory, no rewritten config, nothing removed
    assert not (root / "pwned").exists()  # nothing in a config or checkpoint was ever run


def test_debug_shows_the_traceback(runs, tmp_path):
    case = next(c for c in CASES if c.id == "preset-misspelt")
    with pytest.raises(GankitError, match="did you mean 'gan-1d'"):
        run_case(case, tmp_path, runs, debug=True)


def test_docs_reliability_lists_exactly_the_tested_cases():
    text = DOC.read_text()
    assert START in text and END in text, "docs/reliability.md lost its table markers"
    rows = [line for line in text.split(START)[1].split(END)[0].splitlines() if re.match(r"\| \d+ \|", line)]
    ids = [re.search(r"\(`([^`]+)`\)", row).group(1) for row in rows]
    assert ids == [c.id for c in CASES], "run: python tests/bad_inputs.py"
    for row, case in zip(rows, CASES):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[2] == f"`{command(case)}`" and cells[-1] == "2", row
        assert case.expect.replace("|", "\\|") in cells[3] or cells[3].endswith("..."), row
