"""Judge a simulated region's nights again with this tree's engine, from facts kept once.

A `simulate` run replays 100 schools over 300 days through the domain code: 40 minutes and
more on a shared machine, for every change of a threshold. The replay's facts do not depend
on the engine (no region here freezes on `critical`), so they are kept once and each engine
judged on them in seconds.

    record FAMILY SEED DIR [--simulator FILE]
        writes `World(100, 300, SEED, None, FAMILY)`'s history, replays it as `simulate` does
        (tools.backtest.Replay, no default statements) into DIR/FAMILYSEED.db, and keeps every
        facts set the nightly whole sweep gathered, and the schools `statement_missing`
        re-judged, in DIR/FAMILYSEED.facts.pkl.
    judge FAMILY SEED DIR [--simulator FILE] [--out LEVELS.jsonl]
        judges each night again (`sweep.evaluate_all` with the sweep's own context; the
        silent schools again without trend peers, as `statement_missing` does), the daily
        counters read from the kept database for any window, and prints `simulate.measure`.

`--simulator` names another tools/simulate.py (e.g. f6a8c49's, `git archive f6a8c49
tools/simulate.py`) whose World wrote the history. docs/risk.md has the figures it gave.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import pickle
import sqlite3
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


import service.risk.chains as chains
import service.risk.sweep as sw
from service.kit.clock import local_date
from service.kit.db import make_engine, make_sessionmaker
from service.policy.knobs import RiskConfig
from service.risk import facts as fm
from service.risk.indicators import Context

ATTRS = ("deposits_amount", "deposits_count", "enrollments_paid", "lessons_consumed",
         "refund_requests", "complaints")  # fmt: skip


def simulator(path: str | None) -> ModuleType:
    if path is None:
        import tools.simulate

        return tools.simulate
    spec = importlib.util.spec_from_file_location("simulator_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["simulator_under_test"] = module
    spec.loader.exec_module(module)
    return module


def record(sim: ModuleType, family: str, seed: int, base: Path) -> None:
    from tools.backtest import Replay
    from tools.cli import _prepared

    dump = open(f"{base}.facts.pkl", "wb")
    real = sw.gather

    def kept(session: Any, **kw: Any) -> dict[str, fm.Facts]:
        found = real(session, **kw)
        if kw["as_of"].microsecond == 999999 and kw.get("only") is None:
            ids = kw.get("institution_ids")
            pickle.dump(("whole", kw["as_of"], found) if ids is None
                        else ("few", kw["as_of"], list(ids)), dump)  # fmt: skip
        return found

    sw.gather = kept  # type: ignore[assignment]
    world = sim.World(100, 300, seed, None, family)
    lines = [json.dumps(e, ensure_ascii=False) for e in world.build()]
    sessions, settings = _prepared(f"sqlite:///{base}.db")
    out = io.StringIO()
    print(Replay(sessions, settings, out, err=io.StringIO(), default_statements=False).run(lines))
    dump.close()
    Path(f"{base}.levels.jsonl").write_text(out.getvalue())


def counters(con: sqlite3.Connection, first: date, n: int) -> dict[str, dict[str, list[Any]]]:
    """Running sums of each daily counter, per institution, from `first`."""
    raw: dict[str, dict[str, list[Any]]] = {}
    for row in con.execute(f"select institution_id, day, {', '.join(ATTRS)} from institution_days"):
        i = (date.fromisoformat(row[1]) - first).days
        per = raw.setdefault(row[0], {a: [0] * n for a in ATTRS})
        for a, v in zip(ATTRS, row[2:], strict=True):
            per[a][i] = Decimal(v) / 100 if a == "deposits_amount" else v  # fen on SQLite
    for per in raw.values():
        for a, values in per.items():
            acc: Any = Decimal(0) if a == "deposits_amount" else 0
            for i, v in enumerate(values):
                acc += v
                values[i] = acc
    return raw


def judge(sim: ModuleType, family: str, seed: int, base: Path, out: str | None) -> None:
    world = sim.World(100, 300, seed, None, family)
    world.build()
    con = sqlite3.connect(f"file:{base}.db?mode=ro", uri=True)
    by_id = dict(con.execute("select id, name from institutions"))
    first = world.start - timedelta(days=400)
    n = world.days + 410
    cum = counters(con, first, n)

    def total(self: fm.Facts, attr: str, as_of: datetime, days: int, offset: int = 0) -> Any:
        zero: Any = Decimal("0.00") if attr == "deposits_amount" else 0
        end = min((local_date(as_of) - first).days - offset, n - 1)
        start = end - days + 1
        sums = cum.get(self.institution_id, {}).get(attr)
        if sums is None or end < 0:
            return zero
        return sums[end] - (sums[start - 1] if start >= 1 else zero)

    fm.Facts.total = total  # type: ignore[method-assign]
    chains._outside = lambda *a, **k: []  # every campus is in a whole sweep
    rows = nights(con, base, by_id)
    if out:
        Path(out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(json.dumps(sim.measure(world, rows), ensure_ascii=False, indent=1))


def nights(con: sqlite3.Connection, base: Path, by_id: dict[str, str]) -> list[dict[str, Any]]:
    teaching: dict[str, list[tuple[str, datetime]]] = {}
    for inst, cid, at in con.execute(
        "select institution_id, id, created_at from complaints where category = 'teaching_stopped'"
    ):
        teaching.setdefault(inst, []).append((cid, datetime.fromisoformat(at).replace(tzinfo=UTC)))
    cfg = RiskConfig()
    session = make_sessionmaker(make_engine(f"sqlite:///{base}.db"))()
    needs = fm.Needs.of([cfg])
    rows: list[dict[str, Any]] = []
    night: tuple[datetime, dict[str, Any]] | None = None
    whole: tuple[dict[str, fm.Facts], Context] | None = None
    with open(f"{base}.facts.pkl", "rb") as f:
        while True:
            try:
                kind, as_of, payload = pickle.load(f)  # noqa: S301 (our own file)
            except EOFError:
                break
            cfgs: dict[str, RiskConfig] = {}
            if kind == "whole":
                if night:
                    rows += levels(*night, by_id)
                for x in payload.values():  # facts later than the recording, where missing
                    x.stall.setdefault(14, (0, None))
                    x.teaching_complaints = [(c, t) for c, t in teaching.get(x.institution_id, [])
                                             if as_of - timedelta(days=95) < t <= as_of]  # fmt: skip
                if any(x.closing_on for x in payload.values()):
                    fm._Queries(session, payload, as_of, needs
                                ).contested_refunds()  # fmt: skip
                cfgs = {x.region_code: cfg for x in payload.values()}
                ctx = sw._context(None, payload, cfgs, as_of, whole=True)  # type: ignore[arg-type]
                whole = (payload, ctx)
                night = (as_of, sw.evaluate_all(None, payload, ctx, cfgs))  # type: ignore[arg-type]
            elif whole is not None and night is not None:
                facts, ctx = whole
                few = {i: facts[i] for i in payload if i in facts}
                cfgs = {x.region_code: cfg for x in few.values()}
                alone = Context(as_of=as_of, region_refund_rate=ctx.region_refund_rate,
                                peer_surge=ctx.peer_surge, chain=ctx.chain,
                                silent_banks=sw.silent_banks(few, cfgs, as_of))  # fmt: skip
                night[1].update(sw.evaluate_all(None, few, alone, cfgs))  # type: ignore[arg-type]
    if night:
        rows += levels(*night, by_id)
    return rows


def levels(as_of: datetime, verdicts: dict[str, Any], by_id: dict[str, str]) -> list[Any]:
    day = local_date(as_of).isoformat()
    return [
        {"date": day, "institution": by_id[i], "level": v.level, "score": v.score,
         "indicators": [r.record() for r in v.indicators]}
        for i, v in sorted(verdicts.items(), key=lambda kv: by_id.get(kv[0], ""))
        if i in by_id
    ]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("record", "judge"))
    p.add_argument("family")
    p.add_argument("seed", type=int)
    p.add_argument("dir")
    p.add_argument("--simulator", default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    sim = simulator(a.simulator)
    base = Path(a.dir) / f"{a.family}{a.seed}"
    if a.action == "record":
        record(sim, a.family, a.seed, base)
    else:
        judge(sim, a.family, a.seed, base, a.out)


if __name__ == "__main__":
    main()
