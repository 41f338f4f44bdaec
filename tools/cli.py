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
    from tools.banksim import open_accounts
    from tools.demo import bank_book, refuse_outside_development, seed

    settings = get_settings()
    refuse_outside_development(settings)  # before anything is written, the migration included
    _migrate()
    known = _read_credentials(args.credentials)
    result = _in_tx(
        lambda s: seed(s, settings=settings, now=clock.utcnow(), bank_url=args.bank_url,
                       known=known)
    )  # fmt: skip
    replayed = False
    if args.history:
        replayed, parent = _living_history(settings, args.history_days)
        result["parent"] = parent or known.get("parent")
    if args.bank_state:  # the simulator to come holds what the history left at the bank
        open_accounts(args.bank_state, _in_tx(bank_book), fresh=replayed)
    _write_credentials(args.credentials, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    _tell_where(result, args.base_url)
    return 0


def _read_credentials(path: str) -> dict[str, Any]:
    """What the last seed printed (tokens it can print again), or nothing."""
    try:
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_credentials(path: str, result: dict[str, Any]) -> None:
    """Kept for the next seed, readable by the owner only (they open the demo's doors)."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=2)


def _living_history(settings: Any, days: int | None) -> tuple[bool, dict[str, str] | None]:
    """Six months of the demo region's history, replayed once: whether it was replayed now,
    and the parent it made."""
    import time

    from sqlalchemy import select

    from service.kit.clock import local_date
    from service.registry.models import Regulator
    from tools import living
    from tools.demo import DEMO_BANK_ID, REGULATORS

    days = days or living.DAYS
    sessions = make_sessionmaker(make_engine(settings.database_url))
    with sessions() as s:
        if living.present(s):
            return False, None
        province = s.scalar(select(Regulator.id).where(Regulator.name == REGULATORS[0][0]))
    started = time.monotonic()
    print(f"demo: replaying {days} days of {len(living.SCHOOLS)} institutions' history",
          file=sys.stderr, flush=True)  # fmt: skip
    parent = living.replay(
        sessions, settings, bank_id=DEMO_BANK_ID, regulator_id=str(province),
        today=local_date(clock.utcnow()), days=days, progress=_progress(days, "demo"),
    )  # fmt: skip
    print(f"demo: history ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if parent is None:
        return True, None
    return True, {"enrollment_id": parent.enrollment_id, "access_code": parent.access_code,
            "institution": parent.institution}  # fmt: skip


def _tell_where(result: dict[str, Any], base: str) -> None:
    """Where to go first, in plain lines after the JSON."""
    base = base.rstrip("/")
    regs = result["regulators"]
    lines = [
        f"workbench: {base}/workbench  (Liaoyuan's token: {regs['220400']['token']})",
        f"API docs:  {base}/docs",
    ]
    lines.append("officers (username / password / TOTP secret; the otpauth:// link adds the "
                 "secret to an authenticator app):")  # fmt: skip
    for reg in regs.values():
        for o in reg.get("officers", []):
            lines.append(f"  {o['username']:<18} {o['role']:<10} {o['password']}  "
                         f"{o['totp_secret']}  {o['otpauth']}")  # fmt: skip
    parent = result.get("parent")
    if parent:
        lines.append(f"parent:    {base}/parent/e/{parent['enrollment_id']}  "
                     f"(access code {parent['access_code']}, {parent['institution']})")  # fmt: skip
    print("\n".join(lines), file=sys.stderr)


def cmd_up(args: argparse.Namespace) -> int:
    import os

    from tools.up import up

    here = os.path.join(os.path.dirname(sys.executable), "tuitionguard")
    exe = here if os.path.exists(here) else "tuitionguard"
    return up(host=args.host, port=args.port, bank_port=args.bank_port, tuitionguard=exe)


def cmd_bank_sim(args: argparse.Namespace) -> int:
    from service.cli import serve_until_stopped
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
        state_path=args.state,
    )
    serve_until_stopped(create_app(bank), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


def _scratch_database(url: str | None) -> tuple[str, Any]:
    """The given database, or a temporary SQLite file removed afterwards."""
    import tempfile

    if url:
        return url, None
    tmp = tempfile.TemporaryDirectory(prefix="tuitionguard-")
    return f"sqlite:///{tmp.name}/backtest.db", tmp


def _prepared(url: str, *, scratch: bool = False) -> tuple[Any, Any]:
    from service.config import Settings
    from service.kit.migrate import upgrade
    from service.tables import load_reference

    upgrade(url)
    sessions = make_sessionmaker(make_engine(url, scratch=scratch))
    run_in_transaction(sessions, lambda s: load_reference(s, now=clock.utcnow()))
    secret = get_settings().secret_key
    return sessions, Settings(database_url=url, secret_key=secret, environment="development")


def cmd_backtest(args: argparse.Namespace) -> int:
    from tools.backtest import Replay

    url, tmp = _scratch_database(args.database)
    try:
        sessions, settings = _prepared(url, scratch=tmp is not None)
        with open(args.events, encoding="utf-8") as src:
            lines = src.readlines()
        with open(args.out, "w", encoding="utf-8") as out:
            summary = Replay(
                sessions,
                settings,
                out,
                default_statements=not args.no_default_statements,
                on_day=_progress(_days_spanned(lines), "backtest"),
            ).run(lines)
        print(json.dumps({"summary": summary}))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from tools.simulate import FAMILIES, simulate

    if args.days < 1 or args.institutions < 1:
        raise SystemExit("--days and --institutions must be at least 1")
    url, tmp = _scratch_database(args.database)
    try:
        sessions, settings = _prepared(url, scratch=tmp is not None)
        # A region kept to be served ends today; a throwaway one replays a fixed history.
        start = _today() - timedelta(days=args.days) if args.database else None
        report = simulate(
            sessions,
            settings,
            institutions=args.institutions,
            days=args.days,
            seed=args.seed,
            events_path=args.events,
            start=start,
            family=args.family,
            progress=_progress(args.days),
        )
        if args.database:
            city = FAMILIES[args.family].region[:4] + "00"
            report["regulator_token"] = _simulated_regulator(sessions, city)
        print(json.dumps(report, indent=2, ensure_ascii=False))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tools.evaluate import evaluate, parse_seeds, table

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    if not families or any(f not in ("tune", "holdout") for f in families):
        raise SystemExit("--families: tune, holdout or both (tune,holdout)")
    report = evaluate(families, parse_seeds(args.seeds), institutions=args.institutions,
                      days=args.days, jobs=args.jobs)  # fmt: skip
    for family, fam in report["families"].items():
        print("\n".join(table(family, fam["per_seed"], fam["pooled"])))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, ensure_ascii=False)
    return 0


def _today() -> Any:
    from service.kit.clock import local_date, utcnow

    return local_date(utcnow())


def _days_spanned(lines: list[str]) -> int:
    """About how many days a history covers, from its first and last events' instants (for
    progress only: a line that does not parse is the replay's to report, not this)."""
    from tools.backtest import first_and_last_day

    span = first_and_last_day(lines)
    return (span[1] - span[0]).days + 1 if span else 1


def _progress(days: int, who: str = "simulate") -> Any:
    """Days replayed so far on stderr, every tenth of the run (a long run says where it is)."""
    step = max(1, days // 10)

    def tell(day: int) -> None:
        if day % step == 0 or day == days:
            print(f"{who}: {day} of about {days} days replayed", file=sys.stderr, flush=True)

    return tell


def _simulated_regulator(sessions: Any, city: str) -> str:
    """A regulator of the simulated city, so the region can be explored in the workbench."""
    from service.kit.clock import utcnow
    from service.kit.db import session_scope
    from service.registry.credentials import create_regulator

    with session_scope(sessions) as s:
        made = create_regulator(s, name="模拟区域监管员", region_code=city, now=utcnow())
        return str(made.credential)


def build_parser() -> argparse.ArgumentParser:
    p, sub = parser_and_commands()
    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="action", required=True)
    ds = demo.add_parser("seed", help="seed a demo region (Jilin: Liaoyuan and Siping)")
    ds.add_argument("--bank-url", default=None, help="instruction URL of the demo bank")
    ds.add_argument(
        "--credentials", default="demo-credentials.json",
        help="where the printed credentials are kept, to print them again next time",
    )  # fmt: skip
    ds.add_argument("--no-history", dest="history", action="store_false",
                    help="skip the six months of replayed history")  # fmt: skip
    ds.add_argument("--base-url", default="http://127.0.0.1:8000", help="for the printed links")
    ds.add_argument("--history-days", type=int, default=None,
                    help="days of history to replay (default: six months)")  # fmt: skip
    ds.add_argument("--bank-state", default=None,
                    help="the bank simulator's state file: its accounts are opened there at "
                    "the balances the demo's history left")  # fmt: skip
    ds.set_defaults(fn=cmd_demo_seed)

    run = sub.add_parser(
        "up", help="the demo: seed it, start the bank simulator, serve (what `make run` runs)"
    )
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--bank-port", type=int, default=8100)
    run.set_defaults(fn=cmd_up)

    sim = sub.add_parser("bank-sim", help="run the custody bank simulator")
    sim.add_argument("--port", type=int, default=8100)
    sim.add_argument("--service-url", default="http://127.0.0.1:8000")
    sim.add_argument("--bank-id", default=None, help="default: the demo bank")
    sim.add_argument("--secret", default=None, help="default: the demo bank's secret")
    sim.add_argument("--reject-rate", type=float, default=0.0)
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of pushes answered 500")
    sim.add_argument("--timeout-rate", type=float, default=0.0, help="share of pushes that hang")
    sim.add_argument("--delay", type=float, default=0.0, help="seconds before executing")
    sim.add_argument("--state", default=None,
                     help="keep the accounts, bookings and instructions in this file")  # fmt: skip
    sim.add_argument("--duplicate-callbacks", action="store_true")
    sim.add_argument("--shuffle-callbacks", action="store_true")
    sim.set_defaults(fn=cmd_bank_sim)

    bt = sub.add_parser(
        "backtest", help="replay a recorded history (docs/backtest.md) and write daily levels"
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
    sm.add_argument("--days", type=int, default=300)
    sm.add_argument("--seed", type=int, default=7)
    sm.add_argument(
        "--family",
        choices=("tune", "holdout"),
        default="tune",
        help="tune: the regions the defaults were chosen on; holdout: never used for that",
    )
    sm.add_argument(
        "--events", default=None, help="also write the synthetic history here (docs/backtest.md)"
    )
    sm.add_argument("--database", default=None)
    sm.set_defaults(fn=cmd_simulate)
    ev = sub.add_parser(
        "evaluate", help="simulate several seeds of each family; recall, false positives and "
        "lead, per seed and pooled, per archetype",
    )  # fmt: skip
    ev.add_argument("--families", default="tune,holdout")
    ev.add_argument("--seeds", default="1-3", help="e.g. 1-3 or 1,2,5")
    ev.add_argument("--institutions", type=int, default=100)
    ev.add_argument("--days", type=int, default=300)
    ev.add_argument("--jobs", type=int, default=1, help="simulate runs at a time")
    ev.add_argument("--out", default=None, help="also write the whole report here (JSON)")
    ev.set_defaults(fn=cmd_evaluate)

    proof = sub.add_parser("proof", help="liability proofs (docs/proofs.md)")
    proofs = proof.add_subparsers(dest="action", required=True)
    pv = proofs.add_parser(
        "verify", help="check a parent's downloaded proof; exit status 0 only if it holds"
    )
    pv.add_argument("file", help="the proof (JSON of GET /parent/proof)")
    pc = proofs.add_parser("consistency", help="check that a newer checkpoint extends an older one")
    pc.add_argument("old", help="the older checkpoint (text)")
    pc.add_argument("new", help="the newer checkpoint (text)")
    pc.add_argument("proof", help="JSON of GET /public/log/proof/consistency")
    pe = proofs.add_parser(
        "entry", help="check a logged entry (a ledger anchor, a root) against a checkpoint"
    )
    pe.add_argument("file", help="JSON {index, entry, inclusion, checkpoint}")
    for command, fn in ((pv, cmd_proof_verify), (pc, cmd_proof_consistency), (pe, cmd_proof_entry)):
        keys_help = "the log's keys (JSON of /.well-known/tuitionguard-log-keys)"
        command.add_argument("--keys", required=True, help=keys_help)
        command.set_defaults(fn=fn)
    _witness_commands(sub)
    return p


def _witness_commands(sub: Any) -> None:
    witness = sub.add_parser("witness", help="a log witness (docs/proofs.md)")
    wc = witness.add_subparsers(dest="action", required=True)
    wk = wc.add_parser("key", help="make a witness's private key file and print its vkey")
    wk.add_argument("--name", required=True, help="the witness's key name, e.g. bank.example/w")
    wk.add_argument("--out", required=True, help="the new key file (refused if it exists)")
    wk.set_defaults(fn=cmd_witness_key)
    ws = wc.add_parser("serve", help="serve POST /add-checkpoint (C2SP tlog-witness)")
    ws.add_argument("--name", required=True, help="the witness's key name")
    ws.add_argument("--key", required=True, help="the key file `witness key` made")
    log_help = "the log's site URL (its /.well-known/tuitionguard-log-keys) or its vkey"
    ws.add_argument("--log", required=True, help=log_help)
    ws.add_argument("--db", required=True, help="the witness's own SQLite file")
    ws.add_argument("--host", default="127.0.0.1")
    ws.add_argument("--port", type=int, default=8200)
    ws.set_defaults(fn=cmd_witness_serve)


def cmd_witness_key(args: argparse.Namespace) -> int:
    from tgproof import note
    from tgproof.serve import write_key
    from tgproof.witness import public_vkey

    try:
        key = write_key(args.out)
    except FileExistsError:
        print(f"{args.out} exists: a witness's key is never overwritten", file=sys.stderr)
        return 2
    print(public_vkey(args.name, key, note.COSIGNATURE_KEY_TYPE))
    return 0


def cmd_witness_serve(args: argparse.Namespace) -> int:
    from tgproof import note
    from tgproof.serve import log_key_from, make_server, read_key
    from tgproof.witness import Witness

    if "://" in args.log:
        log_key = log_key_from(args.log)
    else:
        log_key = note.parse_vkey(args.log, note.LOG_KEY_TYPE)
    witness = Witness(args.name, read_key(args.key), [log_key], args.db)
    server = make_server(witness, args.host, args.port)
    print(f"witness {args.name} for {log_key.name} on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C under `make run`: a quiet stop
        pass
    finally:
        server.server_close()
    return 0


def cmd_proof_verify(args: argparse.Namespace) -> int:
    from tgproof.cli import verify_file

    return verify_file(args.file, args.keys)


def cmd_proof_entry(args: argparse.Namespace) -> int:
    from tgproof.cli import verify_entry_file

    return verify_entry_file(args.file, args.keys)


def cmd_proof_consistency(args: argparse.Namespace) -> int:
    from tgproof.cli import verify_consistency_files

    return verify_consistency_files(args.old, args.new, args.proof, args.keys)


def main(argv: Sequence[str] | None = None) -> int:
    from service.cli import main as run

    return run(argv, build_parser())


if __name__ == "__main__":
    sys.exit(main())
