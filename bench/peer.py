"""Single transfers of our ledger against pgledger's, on the same PostgreSQL, in one run.

pgledger (github.com/pgr0ss/pgledger) is a ledger written entirely in PostgreSQL functions,
the nearest public peer of ours. Its own SQL is read at run time from
`../shared/peers/pgledger.sql` (beside the checkout; `--peer-sql` names another path): it is
kept there, with its licences, for measuring only, and never enters this project.

Both ledgers get a scratch database of their own on the same server, 1,000 accounts without
limits, and the same 8 writer processes, each holding one connection to each side for the
whole run (so both sides' plan caches stay warm). Each transfer is between a random pair of
accounts, of 0.01-9.99, in a transaction of its own:

  peer     `SELECT * FROM pgledger_create_transfer($1, $2, $3)`, autocommit, prepared (as
           pgledger's own Go benchmark calls it through pgx);
  ours     `ledger.transfer_alone(engine, …)`: the call for a caller with no wider transaction;
  ours-tx  `ledger.transfer(conn, …)` inside `ledger.run_transaction(engine, …)`: a caller's
           own transaction around the transfer (BEGIN and the call in one pipeline, then
           COMMIT: two round trips).

Both sides are warmed up first (2,000 transfers each, then `VACUUM ANALYZE`), then measured in
rounds that take turns (each round runs every side for the same seconds, one after the other,
the order rotating between rounds), so a shared machine's changing speed falls on all of them
alike. Afterwards both books are checked: pgledger's balances sum to zero and each equals its
entries; ours passes `ledger.verify` and its trial balance.

Run: .venv/bin/python bench/peer.py [--seconds 1] [--rounds 20] [--writers 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import Engine

import ledger
from bench.common import machine_speed, psycopg_dsn, temporary_pg_database
from service.kit.db import make_engine
from service.kit.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 1000
WARM_UP = 2000
# `../shared/peers/pgledger.sql` seen from the checkout, or from a folder above it (a
# worktree kept beneath the main checkout's parent).
PEER_SQL = next(
    (p / "shared/peers/pgledger.sql" for p in ROOT.parents if (p / "shared/peers").is_dir()),
    ROOT.parent / "shared/peers/pgledger.sql",
)
PEER_CALL = "SELECT * FROM pgledger_create_transfer(%s, %s, %s)"
SIDES = ("peer", "ours", "ours-tx")


def setup_peer(dsn: str, sql: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(sql.encode())
        return [
            c.execute("SELECT id FROM pgledger_create_account(%s, 'CNY')", (f"a{k}",)).fetchone()[0]  # type: ignore[index]
            for k in range(ACCOUNTS)
        ]


def setup_ours(url: str) -> list[str]:
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as c:
        ids = [
            ledger.open_account(c, ledger="peer", kind="acct", owner=f"a{k}", at=now).id
            for k in range(ACCOUNTS)
        ]
    engine.dispose()
    return ids


def amount(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(1, 999)) / 100


class Writer:
    """One writer process's connections to both sides, kept for the whole run."""

    def __init__(self, peer_dsn: str, ours_url: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.peer = psycopg.connect(peer_dsn, autocommit=True)
        # One connection, in a pool as the service makes it (which checks a connection it
        # hands out without a round trip).
        self.engine: Engine = make_engine(ours_url, pool_size=1, max_overflow=0)
        self.calls: dict[str, Callable[[list[str], list[str]], None]] = {
            "peer": self.peer_transfer,
            "ours": self.ours_transfer,
            "ours-tx": self.ours_transfer_in_transaction,
        }

    def peer_transfer(self, peer_ids: list[str], _ours: list[str]) -> None:
        d, c = self.rng.sample(peer_ids, 2)
        self.peer.execute(PEER_CALL, (d, c, amount(self.rng)), prepare=True).fetchall()

    def ours_transfer(self, _peer: list[str], ids: list[str]) -> None:
        d, c = self.rng.sample(ids, 2)
        ledger.transfer_alone(
            self.engine, debit=d, credit=c, amount=amount(self.rng), code="t", at=datetime.now(UTC)
        )

    def ours_transfer_in_transaction(self, _peer: list[str], ids: list[str]) -> None:
        d, c, value = *self.rng.sample(ids, 2), amount(self.rng)

        def work(conn: Any) -> None:
            ledger.transfer(conn, debit=d, credit=c, amount=value, code="t", at=datetime.now(UTC))

        ledger.run_transaction(self.engine, work)


def serve(pipe: Pipe, peer_dsn: str, ours_url: str, seed: int) -> None:
    """A writer: ("warm", side, n) makes n transfers; ("run", side, start, end) makes as many
    as it can between the two monotonic instants (the clock every process shares); both
    answer with the count. None stops it."""
    peer_ids, ours_ids = pipe.recv()
    w = Writer(peer_dsn, ours_url, seed)
    while (msg := pipe.recv()) is not None:
        call = w.calls[msg[1]]
        done = 0
        if msg[0] == "warm":
            for _ in range(msg[2]):
                call(peer_ids, ours_ids)
            done = msg[2]
        else:
            start, end = msg[2], msg[3]
            time.sleep(max(0.0, start - time.monotonic()))
            while time.monotonic() < end:
                call(peer_ids, ours_ids)
                done += 1
        pipe.send(done)
    w.peer.close()
    w.engine.dispose()


def everyone(pipes: list[Pipe], msg: tuple[Any, ...]) -> int:
    for p in pipes:
        p.send(msg)
    return sum(int(p.recv()) for p in pipes)


def vacuum_analyze(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")


def check_peer(dsn: str) -> str:
    with psycopg.connect(dsn) as c:
        total, accounts = c.execute(
            "SELECT sum(balance), count(*) FROM pgledger_accounts"
        ).fetchone()  # type: ignore[misc]
        (transfers,) = c.execute("SELECT count(*) FROM pgledger_transfers").fetchone()  # type: ignore[misc]
        (entries,) = c.execute("SELECT count(*) FROM pgledger_entries").fetchone()  # type: ignore[misc]
        (off,) = c.execute(
            """SELECT count(*) FROM pgledger_accounts a
                LEFT JOIN (SELECT account_id, sum(amount) s, count(*) n FROM pgledger_entries
                            GROUP BY account_id) e ON e.account_id = a.id
               WHERE a.balance <> coalesce(e.s, 0) OR a.version <> coalesce(e.n, 0)"""
        ).fetchone()  # type: ignore[misc]
    ok = total == 0 and entries == 2 * transfers and off == 0
    return (
        f"{'ok' if ok else 'BROKEN'}: {transfers:,} transfers, {entries:,} entries, "
        f"balances sum to {total}, {off} of {accounts} accounts differ from their entries"
    )


def check_ours(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as c:
        report = ledger.verify(c)
        trial = ledger.trial_balance(c)
        # The writers have disconnected, so their counts have reached the statistics.
        updates, hot = c.exec_driver_sql(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname = 'ledger_accounts'"
        ).one()
    engine.dispose()
    ok = report.ok and trial.balanced
    return (
        f"{'ok' if ok else 'BROKEN'}: verify ok={report.ok} "
        f"({report.entries_checked:,} entries), trial balance balanced={trial.balanced}; "
        f"{hot:,} of {updates:,} account updates HOT"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1, help="per side per round")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--peer-sql", type=Path, default=PEER_SQL)
    ap.add_argument("--sides", default=",".join(SIDES), help="of: " + ", ".join(SIDES))
    args = ap.parse_args()
    sides = args.sides.split(",")
    sql = args.peer_sql.read_text()
    print(f"machine speed before: {machine_speed():.0f} ms (lower is faster)", flush=True)
    with (
        temporary_pg_database("tg_bench_pgledger") as peer_url,
        temporary_pg_database("tg_bench_ours") as ours_url,
    ):
        peer_dsn = psycopg_dsn(peer_url)
        ids = (setup_peer(peer_dsn, sql), setup_ours(ours_url))
        ctx = mp.get_context("fork")
        pipes, procs = [], []
        for k in range(args.writers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(theirs, peer_dsn, ours_url, k))
            proc.start()
            mine.send(ids)
            pipes.append(mine)
            procs.append(proc)
        for side in sides:
            everyone(pipes, ("warm", side, -(-WARM_UP // args.writers)))
        vacuum_analyze(peer_dsn)
        vacuum_analyze(psycopg_dsn(ours_url))
        print(
            f"{args.writers} writers, {ACCOUNTS:,} accounts each side, warmed up with "
            f"{WARM_UP:,} transfers each and VACUUM ANALYZE; {args.rounds} rounds of "
            f"{args.seconds:g} s per side",
            flush=True,
        )
        counts = dict.fromkeys(sides, 0)
        ratios: dict[str, list[float]] = {side: [] for side in sides}
        for r in range(args.rounds):
            order = sides[r % len(sides) :] + sides[: r % len(sides)]
            made = {}
            for side in order:
                start = time.monotonic() + 0.05
                made[side] = everyone(pipes, ("run", side, start, start + args.seconds))
                counts[side] += made[side]
            for side in sides:
                if made.get("peer"):
                    ratios[side].append(made[side] / made["peer"])
            figures = [f"{side} {made[side] / args.seconds:,.0f}/s" for side in order]
            print(f"  round {r + 1}: " + ", ".join(figures), flush=True)
        for p in pipes:
            p.send(None)
        for proc in procs:
            proc.join()
        print("books after the run:")
        print(f"  peer: {check_peer(peer_dsn)}")
        print(f"  ours: {check_ours(ours_url)}")
    print(f"machine speed after: {machine_speed():.0f} ms", flush=True)
    seconds = args.rounds * args.seconds
    print("transfers/s over all rounds:")
    for side in sides:
        print(f"  {side:<8} {counts[side] / seconds:8,.0f}")
    if counts.get("peer"):
        # A round's sides ran minutes apart at most; the median of the rounds' ratios is
        # the figure least moved by a burst of other work on the machine during one side.
        for side in sides:
            if side != "peer":
                print(
                    f"  {side} / peer: {counts[side] / counts['peer']:.2f} over all rounds, "
                    f"{statistics.median(ratios[side]):.2f} the median of the rounds' ratios"
                )


if __name__ == "__main__":
    main()
