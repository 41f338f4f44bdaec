"""`tuitionguard …`: serve, run jobs, migrate, and bootstrap credentials. The console script is
`tools.cli`, which adds the tools' commands (bank simulator, demo, backtest, simulate) to
these; `python -m service.cli` runs the service's alone."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.config import get_settings
from service.kit import clock
from service.kit import replica as replicas
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction


def _sessions() -> Any:
    settings = get_settings()
    return make_sessionmaker(make_engine(settings.database_url))


def _migrate() -> None:
    from service.kit.migrate import migration_lock, upgrade
    from service.tables import load_reference

    settings = get_settings()
    # Several processes (api replicas, the scheduler) may start at once: one migrates at a time.
    with migration_lock(settings.database_url):
        upgrade(settings.database_url)
        run_in_transaction(_sessions(), lambda s: load_reference(s, now=clock.utcnow()))


def _in_tx(work: Callable[[Session], Any]) -> Any:
    return run_in_transaction(_sessions(), work)


def cmd_migrate(_: argparse.Namespace) -> int:
    _migrate()
    print("schema at head")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api.logging import configure
    from service.app import create_app

    if args.workers > 1 and not args.no_scheduler:
        print(
            "--workers needs --no-scheduler: run `tuitionguard scheduler` beside the workers, "
            "so that jobs run once and not once per worker",
            file=sys.stderr,
        )
        return 2
    settings = get_settings()
    configure(settings.log_level)
    _migrate()
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": None,
        **server_options(settings),
    }
    if args.workers > 1:
        # Each worker is a process with its own interpreter and pool: a bank's batch in one
        # does not wait for the Python of another's (docs/benchmarks.md).
        uvicorn.run(
            "service.app:served_app",
            factory=True,
            workers=args.workers,
            access_log=False,
            **options,
        )
        return 0
    app = create_app(settings, run_scheduler=not args.no_scheduler)
    serve_until_stopped(app, access_log=False, **options)
    return 0


def server_options(settings: Any) -> dict[str, Any]:
    """How uvicorn treats forwarded headers: believed only from the configured proxies (by
    default from none, so X-Forwarded-For cannot pose as another client to the throttles)."""
    trusted = settings.trusted_proxies.strip()
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def cmd_scheduler(_: argparse.Namespace) -> int:
    from service.api.logging import configure
    from service.jobs.runner import start_scheduler

    settings = get_settings()
    configure(settings.log_level)
    _migrate()
    engine = make_engine(settings.database_url)
    start_scheduler(
        make_sessionmaker(engine),
        settings=settings,
        engine=engine,
        clock=clock.utcnow,
        blocking=True,
        reads=replicas.configured(settings, engine),
    )
    return 0


def cmd_national_follow(args: argparse.Namespace) -> int:
    """On the national database: follow each province's leader across its failovers, and
    subscribe again and copy the province whole when its leader changed
    (service.national.follow)."""
    from service.api.logging import configure
    from service.national.follow import Follower, parse_provinces

    settings = get_settings()
    configure(settings.log_level)
    engine = make_engine(settings.database_url)
    Follower(engine, parse_provinces(args.province), log=lambda m: print(m, flush=True)).run(
        every=args.every
    )
    return 0


def cmd_regulator_create(args: argparse.Namespace) -> int:
    from service.registry.credentials import create_regulator

    issued = _in_tx(
        lambda s: create_regulator(s, name=args.name, region_code=args.region, now=clock.utcnow())
    )
    print(f"regulator {issued.id} for region {args.region}")
    print(issued.credential)
    return 0


def cmd_officer_create(args: argparse.Namespace) -> int:
    """An officer of the region's office (`--office` where the region has several); prints
    `{officer_id, username, password, totp_secret}` last: the password and secret are shown
    this once."""
    from sqlalchemy import select

    from service.errors import DomainError
    from service.registry import officers
    from service.registry.models import Regulator

    def create(s: Session) -> officers.Created:
        query = select(Regulator).where(Regulator.region_code == args.region)
        if args.office:
            query = query.where(Regulator.id == args.office)
        offices = list(s.scalars(query))
        if len(offices) != 1:
            raise DomainError("not_found", f"{len(offices)} offices match: name one by --office")
        return officers.create_officer(
            s, regulator=offices[0], name=args.name, role=args.role, now=clock.utcnow(),
            secret_key=get_settings().secret_key, actor="cli",
        )  # fmt: skip

    try:
        made = _in_tx(create)
    except DomainError as exc:
        print(f"{exc.code}: {exc.detail}", file=sys.stderr)
        return 2
    print(json.dumps(made.as_dict()))
    return 0


def cmd_officer_reset_totp(args: argparse.Namespace) -> int:
    """A new authenticator for an officer (by username): for an office whose only admin
    cannot sign in (a lost phone, or a secret stored under an earlier SECRET_KEY). Prints
    `{officer_id, username, totp_secret, otpauth_uri}` last, shown this once."""
    from sqlalchemy import select

    from service.errors import DomainError
    from service.registry import officers
    from service.registry.models import Officer

    def reset(s: Session) -> officers.SecondFactor:
        found = s.scalar(select(Officer).where(Officer.username == args.username.casefold()))
        if found is None:
            raise DomainError("not_found", f"no officer {args.username!r}")
        return officers.reset_second_factor(
            s, regulator=officers.office(s, found), officer_id=found.id, now=clock.utcnow(),
            actor="cli", secret_key=get_settings().secret_key,
        )  # fmt: skip

    try:
        done = _in_tx(reset)
    except DomainError as exc:
        print(f"{exc.code}: {exc.detail}", file=sys.stderr)
        return 2
    print(json.dumps(done.as_dict()))
    return 0


def cmd_bank_create(args: argparse.Namespace) -> int:
    from service.registry.credentials import create_bank

    settings = get_settings()
    issued = _in_tx(
        lambda s: create_bank(
            s,
            name=args.name,
            code=args.code,
            instruction_url=args.instruction_url,
            secret_key=settings.secret_key,
            now=clock.utcnow(),
        )
    )
    print(json.dumps({"bank_id": issued.id, "secret": issued.credential}))
    return 0


def _finite_hours(text: str) -> float:
    """A number of hours argparse refuses cleanly if it is not one (`nan`, `inf` or a
    figure beyond any timedelta would otherwise end in a traceback)."""
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours) or abs(hours) > 24 * 365:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours")
    return hours


def cmd_bank_rotate(args: argparse.Namespace) -> int:
    from service.registry.credentials import rotate_bank_secret

    settings = get_settings()
    done = _in_tx(
        lambda s: rotate_bank_secret(
            s,
            bank_id=args.bank_id,
            secret_key=settings.secret_key,
            overlap=timedelta(hours=args.overlap_hours),
            now=clock.utcnow(),
        )
    )
    until = done.previous_valid_until.isoformat()
    print(
        json.dumps({"bank_id": done.bank_id, "secret": done.secret, "previous_valid_until": until})
    )
    return 0


def cmd_ledger_anchor(args: argparse.Namespace) -> int:
    """The ledger's anchor of a day as the public log holds it (`service.proofs.anchors`):
    `{index, entry, inclusion, checkpoint}`, which anyone can check with `proof entry` and
    this service with `ledger verify --anchor`."""
    from datetime import date

    from service.proofs import anchors

    settings = get_settings()
    day = date.fromisoformat(args.date) if args.date else None
    try:
        found = _in_tx(lambda s: anchors.logged_anchor(s, settings, day))
    except LookupError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 2
    text = json.dumps(found, indent=2, ensure_ascii=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(json.dumps({"index": found["index"], "entry": json.loads(found["entry"]),
                          "file": args.out}, ensure_ascii=False))  # fmt: skip
    else:
        print(text)
    return 0


def _load_anchor(path: str, keys_path: str | None) -> dict[str, Any] | str:
    """The anchor entry of a logged-anchor file, trusted against the log's keys (this
    service's, or the `--keys` file of `/.well-known/tuitionguard-log-keys`), or why not."""
    from service.proofs import anchors
    from service.proofs import keys as log_keys
    from tgproof import note
    from tgproof.errors import ProofError

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if keys_path:
            with open(keys_path, encoding="utf-8") as f:
                keys = note.parse_keys(f.read())
        else:
            keys = log_keys.keys(get_settings())
        return anchors.trusted_entry(doc, keys)
    except (OSError, ValueError) as exc:
        return f"cannot read anchor {path}: {exc}"
    except (anchors.UntrustedAnchor, ProofError) as exc:
        return str(exc)


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from service.proofs import anchors

    anchor = None
    if args.anchor:
        loaded = _load_anchor(args.anchor, args.keys)
        if isinstance(loaded, str):
            print(json.dumps({"ok": False, "error": loaded}))
            return 2
        anchor = loaded
    report = _in_tx(lambda s: anchors.verify(s.connection(), anchor=anchor))
    print(
        json.dumps(
            {
                "ok": report.ok,
                "entries_checked": report.entries_checked,
                "accounts_checked": report.accounts_checked,
                "anchor_checked": anchor is not None,
                "first_bad_entry": report.first_bad_entry,
                "problems": [p.__dict__ for p in report.problems],
            },
            indent=2,
        )
    )
    return 0 if report.ok else 1


def cmd_job_run(args: argparse.Namespace) -> int:
    from datetime import datetime

    from service.jobs.runner import run_job

    now = clock.utcnow()
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else now
    if as_of.tzinfo is None:
        print("--as-of needs an offset, e.g. 2026-09-01T23:00:00+08:00", file=sys.stderr)
        return 2
    out = run_job(
        _sessions(), args.name, as_of=as_of, settings=get_settings(), now=now, clock=clock.utcnow
    )
    print(json.dumps(out, ensure_ascii=False, default=str))
    return 0


def cmd_prices_import(args: argparse.Namespace) -> int:
    """The workbench's and the API's use case: as the named regulator, over their region,
    audited; a bad file is refused whole with every row's problem."""
    from pathlib import Path

    from service.errors import DomainError
    from service.fees.guides import submit_file
    from service.policy import approvals
    from service.registry.models import Regulator

    text = Path(args.file).read_text(encoding="utf-8-sig")

    def work(s: Session) -> dict[str, Any]:
        regulator = s.get(Regulator, args.regulator)
        if regulator is None:
            raise DomainError("not_found", f"no regulator {args.regulator}")
        done = submit_file(s, regulator=regulator, via="cli", text=text, now=clock.utcnow(),
                           existing="supersede" if args.supersede else "refuse")  # fmt: skip
        if isinstance(done, approvals.Pending):  # four eyes: a supervisor decides it
            a = done.approval
            return {"approval": {"id": a.id, "action": a.action, "status": a.status,
                                 "expires_at": a.expires_at.isoformat()}}  # fmt: skip
        answer = done.answer
        created, unchanged = answer["created"], answer["unchanged"]
        return {"guides_created": len(created), "ids": created,
                "superseded": answer["superseded"], "unchanged": len(unchanged)}  # fmt: skip

    try:
        print(json.dumps(_in_tx(work)))
    except DomainError as exc:
        rows = exc.extra.get("errors") or []
        print(json.dumps({"refused": exc.code, "detail": exc.detail, "errors": rows},
                         ensure_ascii=False, indent=2), file=sys.stderr)  # fmt: skip
        return 2
    return 0


def cmd_credit_list(args: argparse.Namespace) -> int:
    """Put an institution on a regulator's list, take it off, or print the lists (as the named
    regulator, over their region, audited; without one, as the service: the demo's seeding)."""
    from service.errors import DomainError
    from service.policy import credit_lists
    from service.registry.models import Regulator

    def work(s: Session) -> Any:
        regulator = None
        if args.regulator:
            regulator = s.get(Regulator, args.regulator)
            if regulator is None:
                raise DomainError("not_found", f"no regulator {args.regulator}")
        if args.action == "show":
            rows = credit_lists.entries(s, regulator=regulator, list_name=args.list)
            return [
                {"list": e.list_name, "institution_id": e.institution_id, "reason": e.reason,
                 "listed_at": e.listed_at.isoformat()}
                for e in rows
            ]  # fmt: skip
        change = credit_lists.add if args.action == "add" else credit_lists.remove
        e = change(s, regulator=regulator, list_name=args.list, institution_id=args.institution,
                   reason=args.reason, now=clock.utcnow())  # fmt: skip
        return {"list": e.list_name, "institution_id": e.institution_id,
                "listed": e.removed_at is None}  # fmt: skip

    try:
        print(json.dumps(_in_tx(work), ensure_ascii=False))
    except DomainError as exc:
        print(json.dumps({"refused": exc.code, "detail": exc.detail}, ensure_ascii=False),
              file=sys.stderr)  # fmt: skip
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    return parser_and_commands()[0]


def parser_and_commands() -> tuple[argparse.ArgumentParser, Any]:
    """The service's commands, and the subparsers that `tools.cli` adds the tools' to."""
    p = argparse.ArgumentParser(prog="tuitionguard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="migrate, then serve the API, dashboard and scheduler")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--no-scheduler", action="store_true", help="serve without running jobs")
    s.add_argument(
        "--workers", type=int, default=1, help="worker processes (more than 1: --no-scheduler)"
    )
    s.set_defaults(fn=cmd_serve)

    sub.add_parser("scheduler", help="run the scheduled jobs only").set_defaults(fn=cmd_scheduler)
    sub.add_parser("migrate", help="migrate the database to head").set_defaults(fn=cmd_migrate)

    nf = sub.add_parser(
        "national-follow",
        help="national database: keep each province's subscription on its current leader",
    )
    nf.add_argument(
        "--province", action="append", required=True, metavar="CODE=CONNINFO",
        help="a province's leader endpoint, e.g. 220000='host=haproxy port=5000 dbname=tg'",
    )  # fmt: skip
    nf.add_argument("--every", type=float, default=2.0, help="seconds between looks")
    nf.set_defaults(fn=cmd_national_follow)

    reg = sub.add_parser("regulator", help="regulators").add_subparsers(
        dest="action", required=True
    )
    rc = reg.add_parser("create", help="create a regulator; prints its token last")
    rc.add_argument("--name", required=True)
    rc.add_argument("--region", required=True)
    rc.set_defaults(fn=cmd_regulator_create)

    off = sub.add_parser("officer", help="officers of an office").add_subparsers(
        dest="action", required=True
    )
    oc = off.add_parser("create", help="create an officer; prints its credentials last")
    oc.add_argument("--region", required=True)
    oc.add_argument("--name", required=True)
    oc.add_argument("--role", required=True, choices=["viewer", "officer", "supervisor", "admin"])
    oc.add_argument("--office", default=None, help="the office's id, where a region has several")
    oc.set_defaults(fn=cmd_officer_create)
    ot = off.add_parser("reset-totp", help="a new authenticator for an officer; prints it last")
    ot.add_argument("--username", required=True)
    ot.set_defaults(fn=cmd_officer_reset_totp)

    bank = sub.add_parser("bank", help="custody banks").add_subparsers(dest="action", required=True)
    bc = bank.add_parser("create", help="create a bank; prints {bank_id, secret} last")
    bc.add_argument("--name", required=True)
    bc.add_argument("--code", required=True)
    bc.add_argument("--instruction-url", default=None)
    bc.set_defaults(fn=cmd_bank_create)
    br = bank.add_parser(
        "rotate-secret",
        help="a new secret; the old one still verifies the bank's requests for the overlap",
    )
    br.add_argument("--bank-id", required=True)
    br.add_argument("--overlap-hours", type=_finite_hours, default=24.0)
    br.set_defaults(fn=cmd_bank_rotate)

    led = sub.add_parser("ledger", help="the escrow ledger").add_subparsers(
        dest="action", required=True
    )
    lv = led.add_parser("verify", help="recompute balances, check every hash link")
    lv.add_argument(
        "--anchor", help="also check against a logged anchor (the file `ledger anchor` writes)"
    )
    lv.add_argument("--keys", help="the log's keys to trust it by (default: this service's)")
    lv.set_defaults(fn=cmd_ledger_verify)
    la = led.add_parser("anchor", help="a day's ledger anchor from the public log, to keep")
    la.add_argument("--date", help="the Beijing day (default: the latest anchored)")
    la.add_argument("--out", help="file to write (default: print it)")
    la.set_defaults(fn=cmd_ledger_anchor)

    prices = sub.add_parser("prices", help="guidance prices").add_subparsers(
        dest="action", required=True
    )
    pi = prices.add_parser(
        "import", help="import guides from a CSV like shared/data/price_guides.csv"
    )
    pi.add_argument("file")
    pi.add_argument(
        "--regulator", required=True, help="the regulator publishing (its id): its region bounds"
    )
    pi.add_argument(
        "--supersede",
        action="store_true",
        help="replace guides published for the same day (the old ones are kept as history)",
    )
    pi.set_defaults(fn=cmd_prices_import)

    cl = sub.add_parser(
        "credit-list", help="the lists an entry gate refuses prepaid sales on"
    ).add_subparsers(dest="action", required=True)
    for action, what in (("add", "put an institution on a list"),
                         ("remove", "take an institution off a list")):  # fmt: skip
        ca = cl.add_parser(action, help=what)
        ca.add_argument(
            "--list", required=True, choices=("dishonest_debtors", "abnormal_operations")
        )
        ca.add_argument("--institution", required=True, help="the institution's id")
        ca.add_argument("--reason", required=True)
        ca.add_argument("--regulator", help="the regulator acting (its id); default: the service")
        ca.set_defaults(fn=cmd_credit_list)
    cs = cl.add_parser("show", help="the institutions on a list now")
    cs.add_argument("--list", choices=("dishonest_debtors", "abnormal_operations"))
    cs.add_argument("--regulator", help="only the regulator's region (its id)")
    cs.set_defaults(fn=cmd_credit_list)

    job = sub.add_parser("job", help="jobs").add_subparsers(dest="action", required=True)
    jr = job.add_parser("run", help="run one named job now")
    jr.add_argument("name")
    jr.add_argument("--as-of", default=None)
    jr.set_defaults(fn=cmd_job_run)
    return p, sub


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    from service.errors import DomainError

    args = (parser or build_parser()).parse_args(argv)
    try:
        code: int = args.fn(args)
    except DomainError as exc:  # a refusal, not a crash: say why, as the API would
        print(f"refused ({exc.code}): {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C is how a person stops a command: no traceback
        print("interrupted", file=sys.stderr)
        return 130
    return code


def serve_until_stopped(app: Any, **options: Any) -> None:
    """uvicorn.run, stopped by Ctrl-C or SIGTERM without a traceback. uvicorn shuts down
    gracefully on the first signal, then raises it again for the handler that was there
    before; under asyncio's runner that handler is the one raising KeyboardInterrupt, which
    then cancelled the lifespan task mid-teardown and was logged at error level with its
    traceback. The shutdown is done by then: the handlers found here do nothing."""
    import signal

    import uvicorn

    def done(_signum: int, _frame: object) -> None:
        """The server has stopped already."""

    signal.signal(signal.SIGINT, done)
    signal.signal(signal.SIGTERM, done)
    uvicorn.run(app, **options)


if __name__ == "__main__":
    sys.exit(main())
