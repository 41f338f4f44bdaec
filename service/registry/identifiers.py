"""Unified social credit codes (GB 32100-2015) with the GB 11714 organisation code inside."""

from __future__ import annotations

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_VALUE = {c: i for i, c in enumerate(CHARSET)}
# The code's form, as a client is told it: the department and category, the registering
# authority's region, the organisation code and the check character, each from CHARSET. The
# two check characters (`credit_code_problem`) are what no pattern can say.
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def credit_check_char(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_check_char(first8: str) -> str:
    """GB 11714: C9 = 11 - (Σ value × weight mod 11); 10 → X, 11 → 0. Letters count 10-35."""
    total = sum(_ORG_CHARS.index(c) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def credit_code_problem(code: str) -> str | None:
    """None if `code` is a valid unified social credit code, else why it is not."""
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        return f"characters not allowed: {''.join(bad)}"
    if not code[2:8].isdigit():
        return "positions 3-8 must be the registering authority's region code"
    org = code[8:17]
    if any(c not in _ORG_CHARS for c in org[:8]) or org_check_char(org[:8]) != org[8]:
        return "the organisation code (positions 9-17) fails its GB 11714 check digit"
    if credit_check_char(code[:17]) != code[17]:
        return "the check character (position 18) is wrong"
    return None


def make_credit_code(prefix: str, region: str, org_base: str) -> str:
    """Build a valid code from department+category (2), region (6) and 8 organisation
    characters: for demo data and tests."""
    org = org_base + org_check_char(org_base)
    first17 = prefix + region + org
    return first17 + credit_check_char(first17)
