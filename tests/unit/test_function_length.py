"""Functions short enough to read at once in the money and risk paths (issue: architecture):
none over 70 lines in the ledger, the flows, risk, or the bank's path (its API and gateway)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["ledger", "service/flows", "service/risk", "service/bank_gateway", "service/api/bank"]
LIMIT = 70


def long_functions() -> list[tuple[str, str, int]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > LIMIT:
                        found.append((str(path.relative_to(ROOT)), node.name, length))
    return found


def test_no_function_in_the_money_and_risk_paths_is_over_70_lines() -> None:
    assert long_functions() == []
