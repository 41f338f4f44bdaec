"""Liability proofs (docs/proofs.md §1–3): every honest proof verifies; any tampering with the
tree makes some parent's proof fail; the sum-only tree of "Broken Proofs of Solvency" fools a
naive verifier and not ours."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.proofs.entropy import SeededEntropy
from service.proofs.log import MerkleLog
from service.proofs.signing import liabilities_entry, parent_proof
from service.proofs.snapshot import (
    Leaf,
    Snapshot,
    build_snapshot,
    leaf_count_for,
    leaf_proofs,
    tree_levels,
)
from tgproof import sumtree
from tgproof.cli import verify_file
from tgproof.errors import ProofError
from tgproof.proof import verify_parent_proof, yuan
from tools.proofvectors import build_world, cosigned_checkpoint, keys, keys_json

SID = "inst_t/2027-03-01"
balances_st = st.lists(st.integers(0, 10**10), min_size=1, max_size=30).map(
    lambda xs: {f"enr_{i}": x for i, x in enumerate(xs)}
)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def owed_fen(proof: dict[str, Any]) -> int:
    return sum(int(x["amount"]) for x in proof["leaves"])


def parent_check(snapshot: Snapshot, enrollment: str, owed: int) -> bool:
    """What a parent who knows they are owed `owed` concludes from the served proof (tree part
    only; the log part is tested apart): the proof reaches the published root and counts
    exactly their amount."""
    leaves = leaf_proofs(snapshot, enrollment)
    proof = {"snapshot_id": SID, "enrollment_id": enrollment, "leaf_count": snapshot.leaf_count,
             "root": {"hash": snapshot.root.hash.hex(), "sum": snapshot.root.sum},
             "leaves": leaves, "amount": yuan(owed)}  # fmt: skip
    from tgproof.proof import verify_leaves

    try:
        verify_leaves(proof)
    except ProofError:
        return False
    return True


@FAST
@given(balances_st, st.integers(0, 2**32))
def test_for_random_balances_every_parents_full_proof_verifies(
    balances: dict[str, int], seed: int
) -> None:
    world = build_world(balances, seed=seed)
    assert world.snapshot.root.sum == sum(balances.values())
    assert world.snapshot.leaf_count == leaf_count_for(2 * sum(1 for v in balances.values() if v))
    for enrollment, owed in balances.items():
        if owed == 0:
            assert enrollment not in world.proofs  # owed nothing: left out
            continue
        found = verify_parent_proof(world.proofs[enrollment], world.keys)
        assert found.amount_fen == owed and found.total_fen == sum(balances.values())


def test_padding_reaches_at_least_1024_and_the_next_power_of_two() -> None:
    assert [leaf_count_for(n) for n in (0, 2, 1024, 1025, 2048, 2050)] == [
        1024, 1024, 1024, 2048, 2048, 4096,
    ]  # fmt: skip
    snapshot = build_snapshot(SID, [(f"e{i}", 1 + i) for i in range(600)], SeededEntropy(3))
    assert snapshot.leaf_count == 2048 and snapshot.root.sum == sum(range(1, 601))


def test_splits_salts_and_order_are_fresh_for_every_snapshot() -> None:
    one = build_snapshot(SID, [("e1", 10_000), ("e2", 20_000)])
    two = build_snapshot(SID, [("e1", 10_000), ("e2", 20_000)])
    assert one.root.sum == two.root.sum and one.root.hash != two.root.hash
    assert {x.salt for x in one.leaves if x.salt} & {x.salt for x in two.leaves if x.salt} == set()


def _tampered(snapshot: Snapshot, leaves: list[Leaf]) -> Snapshot:
    """The operator's altered tree, built honestly from altered leaves and published."""
    altered = Snapshot(
        snapshot_id=snapshot.snapshot_id, leaves=leaves,
        levels=tree_levels(snapshot.snapshot_id, leaves),
    )  # fmt: skip
    for index, leaf in enumerate(leaves):
        if leaf.enrollment_id is not None:
            altered.where.setdefault(leaf.enrollment_id, []).append(index)
    return altered


def _someone_fails(snapshot: Snapshot, balances: dict[str, int]) -> bool:
    return not all(parent_check(snapshot, e, owed) for e, owed in balances.items() if owed)


tamper_st = st.sampled_from(["omit", "change", "duplicate", "move"])


@FAST
@given(balances_st.filter(lambda b: sum(1 for v in b.values() if v) >= 2), tamper_st, st.data())
def test_omitting_changing_duplicating_or_moving_a_leaf_fails_some_parent(
    balances: dict[str, int], how: str, data: st.DataObject
) -> None:
    """Against a tree rebuilt from altered leaves (omit: a parent's leaf becomes padding;
    change: another amount; duplicate: one parent's leaf copied over another's; move: a leaf's
    path served from another position, against the root logged before)."""
    honest = build_snapshot(SID, balances.items(), SeededEntropy(data.draw(st.integers(0, 99))))
    assert not _someone_fails(honest, balances)
    mine = [i for i, x in enumerate(honest.leaves) if x.enrollment_id]
    i = data.draw(st.sampled_from(mine))
    leaves = list(honest.leaves)
    if how == "omit":
        leaves[i] = Leaf(holder=bytes(32), amount=0)
    elif how == "change":
        new = data.draw(st.integers(0, 10**10).filter(lambda a: a != leaves[i].amount))
        leaves[i] = dataclasses.replace(leaves[i], amount=new)
    elif how == "duplicate":
        j = data.draw(st.sampled_from([k for k in mine if leaves[k].holder != leaves[i].holder]))
        leaves[j] = leaves[i]
    if how == "move":
        j = data.draw(st.integers(0, len(leaves) - 1).filter(lambda k: leaves[k] != leaves[i]))
        leaves[i], leaves[j] = leaves[j], leaves[i]
        moved = _tampered(honest, leaves)
        moved.levels[-1] = honest.levels[-1]  # the root logged before the move
        assert _someone_fails(moved, balances)
        return
    assert _someone_fails(_tampered(honest, leaves), balances)


@FAST
@given(balances_st.filter(lambda b: sum(b.values()) > 0), st.data())
def test_lowering_any_nodes_sum_fails_some_parent(balances: dict[str, int], data: Any) -> None:
    """The operator lowers one node's sum (keeping its hash), recomputes everything above it
    and publishes that root: a parent below the node cannot reach it."""
    honest = build_snapshot(SID, balances.items(), SeededEntropy(data.draw(st.integers(0, 99))))
    height = data.draw(st.integers(0, len(honest.levels) - 1))
    level = honest.levels[height]
    k = data.draw(st.sampled_from([n for n, x in enumerate(level) if x.sum > 0]))
    cut = data.draw(st.integers(1, level[k].sum))
    levels = [list(x) for x in honest.levels]
    levels[height][k] = sumtree.Node(level[k].hash, level[k].sum - cut)
    for h in range(height + 1, len(levels)):
        below = levels[h - 1]
        levels[h] = [sumtree.node(below[n], below[n + 1]) for n in range(0, len(below), 2)]
    lowered = Snapshot(snapshot_id=SID, leaves=honest.leaves, levels=levels, where=honest.where)
    assert lowered.root.sum < honest.root.sum
    assert _someone_fails(lowered, balances)


def naive_node(left: sumtree.Node, right: sumtree.Node) -> sumtree.Node:
    """The broken design: only the total goes into a node's hash."""
    total = left.sum + right.sum
    data = b"\x01" + total.to_bytes(8, "big") + left.hash + right.hash
    return sumtree.Node(hashlib.sha256(data).digest(), total)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**9), st.integers(1, 10**9), st.data())
def test_the_papers_sum_only_attack_passes_a_naive_verifier_and_fails_ours(
    a: int, b: int, data: st.DataObject
) -> None:
    """Two parents' leaves are siblings. The prover publishes a total T < a + b by telling the
    left parent the right sum is T − a and the right parent the left sum is T − b."""
    shrunk = data.draw(st.integers(max(a, b), a + b - 1))
    left = sumtree.leaf(SID, b"L" * 32, a)
    right = sumtree.leaf(SID, b"R" * 32, b)
    told_left = sumtree.Node(right.hash, shrunk - a)
    told_right = sumtree.Node(left.hash, shrunk - b)
    # naive: both parents fold to the same published root, whose total is short
    naive_l, naive_r = naive_node(left, told_left), naive_node(told_right, right)
    assert naive_l == naive_r and naive_l.sum == shrunk < a + b
    # ours: the two folds differ, so whichever root is published one parent's proof fails
    ours_l, ours_r = sumtree.node(left, told_left), sumtree.node(told_right, right)
    assert ours_l.sum == ours_r.sum == shrunk
    assert ours_l.hash != ours_r.hash
    assert sumtree.node(left, right).sum == a + b


def test_two_parents_cannot_be_given_the_same_leaf() -> None:
    world = build_world({"enr_a": 5_000, "enr_b": 5_000}, seed=9)
    stolen = copy.deepcopy(world.proofs["enr_a"])
    stolen["enrollment_id"] = "enr_b"
    with pytest.raises(ProofError, match="does not reach the root"):
        verify_parent_proof(stolen, world.keys)


def test_the_same_leaf_twice_is_not_two_parts() -> None:
    world = build_world({"enr_a": 5_000}, seed=9)
    proof = copy.deepcopy(world.proofs["enr_a"])
    proof["leaves"][1] = dict(proof["leaves"][0], part=1)
    with pytest.raises(ProofError):
        verify_parent_proof(proof, world.keys)


@pytest.mark.parametrize("bad", [2**63, -1])
def test_a_sum_of_2_63_or_more_or_below_zero_is_refused(bad: int) -> None:
    with pytest.raises(ProofError, match="out of range"):
        sumtree.leaf(SID, bytes(32), bad)
    with pytest.raises(ProofError, match="out of range"):
        sumtree.node(sumtree.leaf(SID, bytes(32), 2**62), sumtree.leaf(SID, bytes(32), 2**62))


def test_the_cli_verifies_a_downloaded_proof_and_fails_an_altered_one(tmp_path: Path) -> None:
    world = build_world({"enr_a": 97_500, "enr_b": 1}, seed=4)
    keys = tmp_path / "keys.json"
    keys.write_text(keys_json(world.keys), encoding="utf-8")
    good = tmp_path / "proof.json"
    good.write_text(json.dumps(world.proofs["enr_a"]), encoding="utf-8")
    out = tmp_path / "out.txt"
    with out.open("w", encoding="utf-8") as f:
        assert verify_file(str(good), str(keys), f) == 0
    assert out.read_text(encoding="utf-8").startswith("OK: enrollment enr_a is owed 975.00 yuan")
    altered = copy.deepcopy(world.proofs["enr_a"])
    altered["root"]["sum"] -= 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(altered), encoding="utf-8")
    with out.open("w", encoding="utf-8") as f:
        assert verify_file(str(bad), str(keys), f) == 1
    assert out.read_text(encoding="utf-8").startswith("FAILED: ")
    with out.open("w", encoding="utf-8") as f:
        assert verify_file(str(tmp_path / "missing.json"), str(keys), f) == 2


@FAST
@given(balances_st, st.integers(0, 2**32))
def test_no_two_leaves_share_a_holder_so_no_two_parents_share_a_leaf(
    balances: dict[str, int], seed: int
) -> None:
    """A leaf's holder binds its enrollment and part (salted), so a leaf shown to one parent
    recomputes only for that parent's enrollment."""
    snapshot = build_snapshot(SID, balances.items(), SeededEntropy(seed))
    holders = [leaf.holder for leaf in snapshot.leaves]
    assert len(set(holders)) == len(holders)
    for enrollment, indexes in snapshot.where.items():
        assert [snapshot.leaves[i].part for i in indexes] in ([0, 1], [1, 0])
        assert all(snapshot.leaves[i].enrollment_id == enrollment for i in indexes)


def test_a_liability_list_with_an_enrollment_twice_or_a_bad_amount_is_refused() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        build_snapshot(SID, [("e1", 1), ("e1", 2)])
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="whole number of fen"):
            build_snapshot(SID, [("e1", bad)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="out of range"):
        build_snapshot(SID, [("e1", 2**62), ("e2", 2**62)])


def test_a_proof_for_65536_leaves_with_its_log_part_is_under_8_kb() -> None:
    """Issue 36's bound: 32,768 enrollments make 65,536 leaves (16 siblings a part), in a log
    of 70,000 entries, with a checkpoint cosigned by two witnesses."""
    institution, date = "inst_0123456789abcdef0123", "2027-03-01"
    snapshot = build_snapshot(
        f"{institution}/{date}", [(f"enr_{i:020d}", 10**9 + i) for i in range(32_768)]
    )
    assert snapshot.leaf_count == 65_536
    merkle_log = MerkleLog([f'{{"n":{i}}}'.encode() for i in range(70_000)])
    index = merkle_log.append(liabilities_entry(snapshot, institution, date, "1.00", "st_1"))
    checkpoint = cosigned_checkpoint(merkle_log)
    proof = parent_proof(snapshot, institution, date, "enr_00000000000000000007", merkle_log,
                         index, checkpoint)  # fmt: skip
    verify_parent_proof(proof, keys())
    size = len(json.dumps(proof, separators=(",", ":"), ensure_ascii=False).encode())
    assert size < 8 * 1024
