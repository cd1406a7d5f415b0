"""docs/errors.md names a test for every bad-input case, and every named test exists."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOC = ROOT / "docs" / "errors.md"


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] != "case" and not set(line) <= set("|- "):
            rows.append(cells)
    return rows


def test_at_least_twenty_cases_each_with_a_test():
    rows = _rows()
    assert len(rows) >= 20
    for case, _input, message, tests in rows:
        assert message and re.search(r"`(unit|integration)/\S+\.py::\w+", tests), case


def test_every_named_test_exists():
    for *_, tests in _rows():
        for ref in re.findall(r"`([^`]+)`", tests):
            if "::" in ref:
                path, name = ref.split("::", 1)
                name, _, case = name.partition("[")
                text = (ROOT / "tests" / path).read_text()
                assert re.search(rf"^def {re.escape(name)}\(", text, re.M), ref
                if case:  # a parametrized case: its id is a string in the same file
                    assert f'("{case.rstrip("]")}",' in text, ref
