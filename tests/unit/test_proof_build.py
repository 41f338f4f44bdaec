"""The publication's fast tree builder (service/proofs/build.py) makes §2's trees bit for bit:
the same stored tree as the reference builder over the same leaves, every parent's proof from
its stored tree checks with the independent verifier, and its refusals are the reference's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.proofs import build
from service.proofs.daily import built_of, tree_bytes
from service.proofs.entropy import SeededEntropy
from service.proofs.snapshot import build_snapshot
from tgproof import sumtree

SID = "inst_a/2027-03-01"
balances = st.dictionaries(
    st.text("abcdefghij_0123456789", min_size=1, max_size=12).map(lambda s: "enr_" + s),
    st.integers(0, 10**12),
    max_size=700,
)


def _node(tree: bytes, at: int) -> sumtree.Node:
    record = tree[at * build.NODE_BYTES : (at + 1) * build.NODE_BYTES]
    return sumtree.Node(record[:32], int.from_bytes(record[32:], "big"))


def _path(tree: bytes, leaf_count: int, index: int) -> list[sumtree.Node]:
    """A leaf's siblings read from the stored tree as the service reads them."""
    path, start, width = [], 0, leaf_count
    for height in range(leaf_count.bit_length() - 1):
        path.append(_node(tree, start + ((index >> height) ^ 1)))
        start, width = start + width, width // 2
    return path


@settings(max_examples=25, deadline=None)
@given(balances, st.integers(0, 99))
def test_the_fast_tree_is_the_reference_tree_bit_for_bit(owed: dict[str, int], seed: int) -> None:
    reference = build_snapshot(SID, sorted(owed.items()), SeededEntropy(seed))
    holders = [leaf.holder for leaf in reference.leaves]
    amounts = [leaf.amount for leaf in reference.leaves]
    assert build.tree_bytes(SID, holders, amounts) == tree_bytes(reference)
    assert built_of(reference).root == reference.root.hash


@settings(max_examples=25, deadline=None)
@given(balances)
def test_every_parents_leaves_fold_up_to_the_root(owed: dict[str, int]) -> None:
    made = build.build(SID, sorted(owed.items()))
    counted = {e: v for e, v in owed.items() if v}
    assert made.leaf_count == build.leaf_count_for(2 * len(counted))
    assert len(made.tree) == (2 * made.leaf_count - 1) * build.NODE_BYTES
    assert made.total == sum(counted.values())
    assert {p[0] for p in made.parents} == set(counted)
    places = [i for p in made.parents for i in (p[1], p[4])]
    assert len(set(places)) == len(places)  # two parents never share a leaf
    root = sumtree.Node(made.root, made.total)
    for enrollment, i0, salt0, a0, i1, salt1, a1 in made.parents:
        assert a0 + a1 == counted[enrollment] and a0 >= 0 and a1 >= 0
        for part, index, salt, amount in ((0, i0, salt0, a0), (1, i1, salt1, a1)):
            leaf = sumtree.leaf(SID, sumtree.holder_hash(enrollment, part, salt), amount)
            assert _node(made.tree, index) == leaf
            top = sumtree.fold(leaf, index, _path(made.tree, made.leaf_count, index),
                               made.leaf_count)  # fmt: skip
            assert top == root


def test_salts_splits_and_places_are_fresh_each_time() -> None:
    owed = [(f"enr_{i}", 100 + i) for i in range(300)]
    one, two = build.build(SID, owed), build.build(SID, owed)
    assert one.root != two.root
    assert {p[2] for p in one.parents} & {p[2] for p in two.parents} == set()
    assert [(p[1], p[3]) for p in one.parents] != [(p[1], p[3]) for p in two.parents]


@pytest.mark.parametrize(
    ("owed", "why"),
    [
        ([("enr_a", 1), ("enr_a", 2)], "listed twice"),
        ([("enr_a", -1)], "whole number"),
        ([("enr_a", True)], "whole number"),
        ([("enr_a", 2**62), ("enr_b", 2**62)], "2^63"),
    ],
)
def test_what_the_reference_refuses_is_refused(owed: list[tuple[str, int]], why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("^", r"\^")):
        build.build(SID, owed)
    with pytest.raises(ValueError):
        build_snapshot(SID, owed, SeededEntropy(1))


def test_padding_only_is_a_tree_of_1024_zero_leaves() -> None:
    made = build.build(SID, [("enr_a", 0)])
    assert (made.leaf_count, made.total, made.parents) == (1024, 0, [])
