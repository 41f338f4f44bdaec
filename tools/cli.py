"""`tuitionguard`, the console script: the service's commands (`service.cli`) and the tools'
(the bank simulator, the demo region, the backtest and the simulator). It lives apart so that
nothing in the service imports a tool."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from service.cli import _in_tx, _migrate, parser_and_commands
from service.config import get_settings
from service.kit import clock
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction


def cmd_demo_seed(args: argparse.Namespace) -> int:
    from tools.demo import seed

    _migrate()
    result = _in_tx(
        lambda s: seed(s, settings=get_settings(), now=clock.utcnow(), bank_url=args.bank_url)
    )
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def cmd_bank_sim(args: argparse.Namespace) -> int:
    import uvicorn

    from tools.banksim import Bank, Behaviour, create_app
    from tools.demo import DEMO_BANK_ID, DEMO_BANK_SECRET

    bank = Bank(
        bank_id=args.bank_id or DEMO_BANK_ID,
        secret=args.secret or DEMO_BANK_SECRET,
        service_url=args.service_url.rstrip("/"),
        behaviour=Behaviour(
            reject_rate=args.reject_rate,
            error_rate=args.error_rate,
            timeout_rate=args.timeout_rate,
            delay_seconds=args.delay,
            duplicate_callbacks=args.duplicate_callbacks,
            shuffle_callbacks=args.shuffle_callbacks,
        ),
    )
    uvicorn.run(create_app(bank), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


def _scratch_database(url: str | None) -> tuple[str, Any]:
    """The given database, or a temporary SQLite file removed afterwards."""
    import tempfile

    if url:
        return url, None
    tmp = tempfile.TemporaryDirectory(prefix="tuitionguard-")
    return f"sqlite:///{tmp.name}/backtest.db", tmp


def _prepared(url: str) -> tuple[Any, Any]:
    from service.config import Settings
    from service.kit.migrate import upgrade
    from service.tables import load_reference

    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    run_in_transaction(sessions, lambda s: load_reference(s, now=clock.utcnow()))
    secret = get_settings().secret_key
    return sessions, Settings(database_url=url, secret_key=secret, environment="development")


def cmd_backtest(args: argparse.Namespace) -> int:
    from tools.backtest import Replay

    url, tmp = _scratch_database(args.database)
    try:
        sessions, settings = _prepared(url)
        with (
            open(args.events, encoding="utf-8") as src,
            open(args.out, "w", encoding="utf-8") as out,
        ):
            summary = Replay(
                sessions, settings, out, default_statements=not args.no_default_statements
            ).run(src)
        print(json.dumps({"summary": summary}))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from tools.simulate import START, simulate

    if args.days < 1 or args.institutions < 1:
        raise SystemExit("--days and --institutions must be at least 1")
    url, tmp = _scratch_database(args.database)
    try:
        sessions, settings = _prepared(url)
        # A region kept to be served ends today; a throwaway one replays a fixed history.
        start = _today() - timedelta(days=args.days) if args.database else START
        report = simulate(
            sessions,
            settings,
            institutions=args.institutions,
            days=args.days,
            seed=args.seed,
            events_path=args.events,
            start=start,
            progress=_progress(args.days),
        )
        if args.database:
            report["regulator_token"] = _simulated_regulator(sessions)
        print(json.dumps(report, indent=2, ensure_ascii=False))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def _today() -> Any:
    from service.kit.clock import local_date, utcnow

    return local_date(utcnow())


def _progress(days: int) -> Any:
    """Days replayed so far on stderr, every tenth of the run (a long run says where it is)."""
    step = max(1, days // 10)

    def tell(day: int) -> None:
        if day % step == 0 or day == days:
            print(f"simulate: {day} of about {days} days replayed", file=sys.stderr, flush=True)

    return tell


def _simulated_regulator(sessions: Any) -> str:
    """A regulator of the simulated city, so the region can be explored in the workbench."""
    from service.kit.clock import utcnow
    from service.kit.db import session_scope
    from service.registry.credentials import create_regulator

    with session_scope(sessions) as s:
        made = create_regulator(s, name="模拟区域监管员", region_code="220100", now=utcnow())
        return str(made.credential)


def build_parser() -> argparse.ArgumentParser:
    p, sub = parser_and_commands()
    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="action", required=True)
    ds = demo.add_parser("seed", help="seed a demo region (Jilin: Liaoyuan and Siping)")
    ds.add_argument("--bank-url", default=None, help="instruction URL of the demo bank")
    ds.set_defaults(fn=cmd_demo_seed)

    sim = sub.add_parser("bank-sim", help="run the custody bank simulator")
    sim.add_argument("--port", type=int, default=8100)
    sim.add_argument("--service-url", default="http://127.0.0.1:8000")
    sim.add_argument("--bank-id", default=None, help="default: the demo bank")
    sim.add_argument("--secret", default=None, help="default: the demo bank's secret")
    sim.add_argument("--reject-rate", type=float, default=0.0)
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of pushes answered 500")
    sim.add_argument("--timeout-rate", type=float, default=0.0, help="share of pushes that hang")
    sim.add_argument("--delay", type=float, default=0.0, help="seconds before executing")
    sim.add_argument("--duplicate-callbacks", action="store_true")
    sim.add_argument("--shuffle-callbacks", action="store_true")
    sim.set_defaults(fn=cmd_bank_sim)

    bt = sub.add_parser(
        "backtest", help="replay a recorded history (BACKTEST.md) and write daily levels"
    )
    bt.add_argument("events")
    bt.add_argument("--out", required=True)
    bt.add_argument(
        "--database", default=None, help="keep the replay in this database (default: temporary)"
    )
    bt.add_argument("--no-default-statements", action="store_true")
    bt.set_defaults(fn=cmd_backtest)

    sm = sub.add_parser(
        "simulate", help="simulate a region with failing institutions; print detection metrics"
    )
    sm.add_argument("--institutions", type=int, default=100)
    sm.add_argument("--days", type=int, default=180)
    sm.add_argument("--seed", type=int, default=7)
    sm.add_argument(
        "--events", default=None, help="also write the synthetic history here (BACKTEST.md format)"
    )
    sm.add_argument("--database", default=None)
    sm.set_defaults(fn=cmd_simulate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from service.cli import main as run

    return run(argv, build_parser())


if __name__ == "__main__":
    sys.exit(main())
