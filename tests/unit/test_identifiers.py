"""Unified social credit codes (GB 32100) and the GB 11714 check inside."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.registry.identifiers import CHARSET, credit_code_problem, make_credit_code

VALID = ["91350100M000100Y43", "51420000MJH2003604", "52420000MJH233410E"]


@pytest.mark.parametrize("code", VALID)
def test_published_valid_examples(code: str) -> None:
    assert credit_code_problem(code) is None


def test_widely_copied_invalid_example_fails() -> None:
    assert credit_code_problem("91310115MA1H8R7C6D") is not None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "91350100M000100Y4",
        "91350100M000100Y433",
        "91350100M00O100Y43",
        "91350100m000100Y43",
        "9135010XM000100Y43",
    ],
)
def test_malformed(bad: str) -> None:
    assert credit_code_problem(bad) is not None


@given(st.sampled_from(VALID), st.integers(0, 17), st.sampled_from(CHARSET))
def test_any_single_change_is_caught(code: str, pos: int, ch: str) -> None:
    changed = code[:pos] + ch + code[pos + 1 :]
    if changed != code:
        assert credit_code_problem(changed) is not None


@given(
    st.sampled_from(["91", "52", "51"]),
    st.sampled_from(["220402", "110105", "440300"]),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
)
def test_made_codes_are_valid(prefix: str, region: str, org: str) -> None:
    assert credit_code_problem(make_credit_code(prefix, region, org)) is None
