"""What the rule packs cost the deposit batch: this tree beside the last commit before them, in
the same run (issue 33: "the deposit batch benchmark ... within 5% of today's figures").

The baseline commit (default `ea5e800`, the parent of the packs' first commit `e108cad`) is
checked out into a temporary `git worktree`. Each tree then runs in its own process, with its
own code (`PYTHONPATH` and the working directory the tree): a child makes a fresh PostgreSQL
database, migrates it with the tree's migrations, seeds enrollments with the tree's domain code
(`setup` of bench/deposits.py) and serves it with the tree's `service.cli serve`. The
measurement is bench/deposits.py's own: its `load` sends batches of 1,000 deposits
(`POST /api/v1/bank/deposits/batch`, its `deposit` bodies, 2 clients), each matching an
enrollment awaiting payment. The two servers are measured in turns (baseline, this tree; then
this tree, baseline; ...), so a machine that slows or speeds up during the run weighs on both
alike. A warm-up batch per tree is not counted (the first of a day resolves and caches packs).

Run: .venv/bin/python bench/packs_overhead.py [--baseline ea5e800] [--rounds 3] [--batches 2]
The ratio printed is this tree's deposits/s over the baseline's (median of the rounds); the
goal is at least 0.95. Two cores shared with other work make a small run noisy: say the load.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent  # this tree (HEAD)


def _measurement(tree: Path) -> Any:
    """bench/deposits.py of this tree (the measurement), over `tree`'s code (what is measured).

    The tree's own packages are imported first, from the tree, so that the bench module's
    imports of `service` and `ledger` find them already loaded; only `bench` comes from here."""
    sys.path[:] = [str(tree)] + [p for p in sys.path if Path(p or ".").resolve() != HERE / "bench"]
    saved = list(sys.path)
    for name in ("ledger", "service", "service.bank_gateway.signing", "service.kit.clock",
                 "service.kit.db", "tests", "tests.factories"):  # fmt: skip
        importlib.import_module(name)
    sys.path.insert(0, str(HERE))
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        del sys.modules[name]
    deposits = importlib.import_module("bench.deposits")
    sys.path[:] = saved
    for name in ("service", "ledger", "tests"):
        where = Path(sys.modules[name].__file__ or "").resolve()
        assert where.is_relative_to(tree.resolve()), (name, where, tree)
    return deposits


def serve(enrollments: int) -> None:
    """The child: this working directory's tree seeded and served; one JSON line on stdout
    (the server's address, the bank's credential and the enrollments), then serve until
    stdin closes."""
    tree = Path.cwd()
    deposits = _measurement(tree)
    from bench.common import temporary_pg_database

    with temporary_pg_database("tg_bench_packs") as url:
        t0 = time.perf_counter()
        bank, secret, enrolled = deposits.setup(url, enrollments)
        seeded = time.perf_counter() - t0
        port = deposits.free_port()
        env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test",
               "SECRET_KEY": deposits.SECRET_KEY, "LOG_SIGNING_KEY": "ab" * 32,
               "SCHEDULER_ENABLED": "false", "LOG_LEVEL": "WARNING",
               "RATE_LIMIT_PER_SECOND": "0"}  # fmt: skip  # as bench/deposits.py serves
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--no-scheduler"],
            env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(server, base)
            print(json.dumps({"base": base, "bank": bank, "secret": secret, "seeded_s": seeded,
                              "enrolled": [[a, r] for a, r, _, _ in enrolled]}), flush=True)  # fmt: skip
            sys.stdin.read()  # until the parent is done
        finally:
            server.terminate()
            server.wait(10)


def _wait_ready(server: subprocess.Popen[bytes], base: str) -> None:
    import httpx

    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}) before it was ready")
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


class Tree:
    def __init__(self, label: str, path: Path, enrollments: int) -> None:
        self.label, self.path, self.rates = label, path, []
        env = {**os.environ, "PYTHONPATH": str(path)}
        self.child = subprocess.Popen(
            [sys.executable, str(HERE / "bench" / "packs_overhead.py"), "--serve",
             "--enrollments", str(enrollments)],
            cwd=path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.info: dict[str, Any] = {}
        self.next = 0

    def ready(self) -> None:
        assert self.child.stdout is not None
        line = self.child.stdout.readline()
        if not line:
            raise SystemExit(f"{self.label}: the child exited ({self.child.wait()})")
        self.info = json.loads(line)
        print(f"{self.label}: {len(self.info['enrolled']):,} enrollments seeded in "
              f"{self.info['seeded_s']:.0f} s", flush=True)  # fmt: skip

    def run(self, deposits: Any, batches: int) -> float:
        """`batches` batches of 1,000 of this tree's enrollments not yet paid: deposits/s."""
        todo = self.info["enrolled"][self.next : self.next + batches * 1000]
        self.next += len(todo)
        requests = [
            ("POST", "/api/v1/bank/deposits/batch",
             json.dumps({"deposits": [deposits.deposit(f"P{self.next}-{b}-{k}", a, r)
                                      for k, (a, r) in enumerate(todo[b * 1000:(b + 1) * 1000])]
                         }).encode(), None)
            for b in range(batches)
        ]  # fmt: skip
        i = self.info
        n, _lat, elapsed = asyncio.run(
            deposits.load(i["base"], i["bank"], i["secret"], requests, 2, None)
        )
        return n * 1000 / elapsed

    def close(self) -> None:
        if self.child.stdin is not None:
            self.child.stdin.close()
        self.child.wait(60)


def compare(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from bench import deposits
    from bench.common import machine_speed

    enrollments = (args.rounds * args.batches + 1) * 1000  # + the warm-up batch
    with tempfile.TemporaryDirectory(prefix="tg-packs-baseline-") as tmp:
        base_dir = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "--quiet",
                        str(base_dir), args.baseline], check=True)  # fmt: skip
        trees: list[Tree] = []
        try:
            trees = [Tree(f"baseline {args.baseline}", base_dir, enrollments),
                     Tree("this tree (HEAD)", HERE, enrollments)]  # fmt: skip
            for t in trees:
                t.ready()
            print(f"load average {os.getloadavg()[0]:.2f}, machine speed {machine_speed():.0f} ms "
                  "(lower is faster)", flush=True)  # fmt: skip
            for t in trees:
                t.run(deposits, 1)  # warm-up: not counted
            for r in range(args.rounds):
                for t in trees if r % 2 == 0 else reversed(trees):
                    rate = t.run(deposits, args.batches)
                    t.rates.append(rate)
                    print(f"  round {r + 1}: {t.label:<24} {rate:8,.0f} deposits/s", flush=True)
        finally:
            for t in trees:
                t.close()
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force",
                            str(base_dir)], check=False)  # fmt: skip
    before, after = (statistics.median(t.rates) for t in trees)
    print(f"load average {os.getloadavg()[0]:.2f}, machine speed {machine_speed():.0f} ms")
    print(f"median deposits/s: baseline {before:,.0f}, this tree {after:,.0f}")
    print(f"ratio this tree / baseline: {after / before:.3f} (goal >= 0.95: "
          f"{'met' if after / before >= 0.95 else 'not met'} in this run)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="ea5e800", help="the commit before the rule packs")
    ap.add_argument("--rounds", type=int, default=3, help="turns of each tree")
    ap.add_argument("--batches", type=int, default=2, help="batches of 1,000 a turn")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--enrollments", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.enrollments)
    else:
        compare(args)


if __name__ == "__main__":
    main()
