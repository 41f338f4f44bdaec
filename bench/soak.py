"""The chaos soak at length (the reliability issue): `--clients` (64) concurrent clients drive
a random mix of enrollments, deposits (single and in batches), lessons, refund requests and
answers, bank results, statements and jobs at a fixed offered rate (`--rate` a second) for
`--seconds` (120) against the service on a PostgreSQL cluster of its own, while the soak
restarts PostgreSQL once, kills the API with SIGKILL once (and starts it again), and cuts
database connections right after a COMMIT is sent (three times). Clients retry with the same
keys. Prints the offered and achieved rates, errors by kind, the recovery after each fault and
the checks of the books; exit 1 if a check fails.

Baseline in the same run: the offered rate (what the clients asked for) against what was
acknowledged.

Run: .venv/bin/python bench/soak.py [--seconds 120] [--rate 60] [--clients 64] [--schools 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.soak import run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rate", type=float, default=60)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--schools", type=int, default=8)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    r = run(seconds=args.seconds, rate=args.rate, clients=args.clients, schools=args.schools,
            logs=logs)  # fmt: skip
    print(f"soak: {args.seconds:g} s of load, {args.clients} clients, {args.schools} schools; "
          f"run took {r.seconds:.1f} s (logs in {logs})")  # fmt: skip
    print(
        f"offered: {r.offered:,} operations ({r.offered / args.seconds:.1f} /s); acknowledged "
        f"requests: {r.acknowledged:,} ({r.acknowledged / r.seconds:.1f} /s over the run)"
    )
    print("acknowledged by kind: " + ", ".join(f"{k} {v}" for k, v in r.details["by kind"].items()))
    print("errors (each failed attempt, retried): " + (", ".join(
        f"{k} x{v}" for k, v in r.errors.items()) or "none"))  # fmt: skip
    for fault, seconds in r.recoveries.items():
        print(f"recovery after {fault}: {seconds} s to the next acknowledged operation")
    print(f"commits cut: {r.details['commits cut']}; enrollments: {r.details['enrollments']}; "
          f"instructions: {r.details['instructions']}")  # fmt: skip
    for name, ok in r.checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(r.checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
