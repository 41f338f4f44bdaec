"""Liability proofs on PostgreSQL (issue 36), in one run on a fresh database:

1. The day's publication for `--institutions` institutions owing `--enrollments` parents
   (prepaid accounts spread evenly, made in bulk): every snapshot (split leaves, padding to
   1,024, shuffle, salts, the sum tree), stored with its tree and salts, every root and the
   ledger's anchor appended to the log, the checkpoint signed (`publish_day`, what the
   `proof_publish` job runs: the balances read in one statement, the trees built by a pool
   of one process per core, the rows written with COPY) — beside the baseline, a plain `GROUP BY` of the same balances
   in the same run. Goal: under 60 s.
2. One institution of 32,768 enrollments (65,536 leaves): a parent's proof served
   (`serving.parent_proof`: one statement reads the parent's row with both paths as slices
   of the stored tree; the log part and the newest checkpoint, cosigned by two witnesses,
   are kept between requests after the first) for `--probes` random parents, its time and
   its size as compact JSON — beside the baseline, an enrollment read by primary key. Goals:
   under 5 ms, under 8 KB.
3. That proof checked in headless Chromium by the parent's page's own code
   (service/pages/static/proof.js, WebCrypto), median of 30 — beside the baseline, one
   SHA-256 of the proof's text by WebCrypto. Goal: under 20 ms.

Run: .venv/bin/python bench/proofs.py [--institutions 10000] [--enrollments 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from bench.common import Stopwatch, analyze, machine_speed, temporary_pg_database
from service.config import Settings
from service.flows.models import Enrollment
from service.kit.db import make_engine, make_sessionmaker
from service.kit.migrate import upgrade
from service.proofs import serving
from service.proofs.daily import day_end, publish_day
from service.proofs.models import Checkpoint
from tgproof import note
from tgproof.proof import verify_parent_proof
from tgproof.witness import cosignature, public_vkey

DAY = date(2026, 12, 1)
OPENED = datetime(2026, 11, 1, tzinfo=UTC)
BIG = "inst_big"  # the institution of 65,536 leaves
BIG_PARENTS = 32_768
STATIC = Path(__file__).resolve().parent.parent / "service" / "pages" / "static" / "proof.js"


def seed(engine: Engine, institutions: int, enrollments: int) -> None:
    """A bank, the institutions, and one prepaid account per enrollment, each owing 1 to
    5,000 yuan, opened (and last moved) before the day: bulk SQL, not the service's flows."""
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO banks (id, name, code, secret_ciphertext, created_at)"
            " VALUES ('bank_b', 'Bench bank', 'BB', 'x', :at)"), {"at": OPENED})  # fmt: skip
        c.execute(text(
            "INSERT INTO institutions (id, name, credit_code, region_code, category,"
            " supervision_mode, bank_id, escrow_account_no, status, created_at, api_key_hash)"
            " SELECT 'inst_' || i, 'School ' || i, lpad(i::text, 18, '0'), '220102', 'subject',"
            " 'custody', 'bank_b', 'esc' || i, 'active', :at, md5(i::text)"
            " FROM generate_series(0, :n - 1) AS i"), {"at": OPENED, "n": institutions})  # fmt: skip
        c.execute(text(
            "INSERT INTO institutions (id, name, credit_code, region_code, category,"
            " supervision_mode, bank_id, escrow_account_no, status, created_at, api_key_hash)"
            " VALUES (:big, 'Big school', 'BIG000000000000000', '220102', 'subject', 'custody',"
            " 'bank_b', 'escbig', 'active', :at, 'x')"), {"big": BIG, "at": OPENED})  # fmt: skip
        for ledger_of, count in (("'inst_' || (i % :n)", enrollments), (f"'{BIG}'", BIG_PARENTS)):
            c.execute(text(
                "INSERT INTO ledger_accounts (id, ledger, kind, owner, credits_posted,"
                " debits_must_not_exceed_credits, created_at, last_at)"
                f" SELECT 'acc_' || :tag || i, {ledger_of}, 'prepaid', 'enr_' || :tag || i,"
                " 1 + (i::bigint * 7919) % 500000 / 100.0, true, :at, :at"
                " FROM generate_series(0, :count - 1) AS i"),
                {"n": institutions, "count": count, "at": OPENED,
                 "tag": "b" if ledger_of.startswith("'inst_big") else ""})  # fmt: skip


def _columns_needed(engine: Engine) -> None:
    """The seed names every NOT NULL column without a default: a schema change shows here."""
    with engine.connect() as c:
        missing = c.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'institutions'"
            " AND is_nullable = 'NO' AND column_default IS NULL AND column_name NOT IN ('id',"
            " 'name', 'credit_code', 'region_code', 'category', 'supervision_mode', 'bank_id',"
            " 'escrow_account_no', 'status', 'created_at', 'api_key_hash')")).scalars().all()  # fmt: skip
    if missing:
        raise SystemExit(f"the seed must name institutions' columns {missing}")


def group_by(engine: Engine) -> tuple[float, int]:
    watch = Stopwatch()
    with engine.connect() as c:
        rows = c.execute(text(
            "SELECT ledger, sum(credits_posted - debits_posted) FROM ledger_accounts"
            " WHERE kind = 'prepaid' GROUP BY ledger")).all()  # fmt: skip
    return watch.elapsed, len(rows)


def publish(engine: Engine, settings: Settings) -> tuple[float, dict[str, Any]]:
    sessions = make_sessionmaker(engine)
    watch = Stopwatch()
    with sessions.begin() as s:
        done = publish_day(s, settings, day=DAY, now=day_end(DAY) + timedelta(hours=5))
    return watch.elapsed, done.summary()


def cosign(engine: Engine, settings: Settings) -> Settings:
    """Two witnesses' cosignatures on the checkpoint, as the witnesses would give them."""
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    names = ["bank.bench/witness", "province.bench/witness"]
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        cp = s.query(Checkpoint).order_by(Checkpoint.size.desc()).first()
        assert cp is not None
        body = note.split_note(cp.note)[0]
        for name, key in zip(names, keys, strict=True):
            cp.note += cosignature(body, name, key, int(time.time()))
        cp.cosignatures = 2
    listed = ",".join(
        f"{public_vkey(n, k, note.COSIGNATURE_KEY_TYPE)}@http://127.0.0.1:9"
        for n, k in zip(names, keys, strict=True)
    )
    return settings.model_copy(update={"log_witnesses": listed})


def serve_proofs(engine: Engine, settings: Settings, probes: int) -> dict[str, Any]:
    sessions = make_sessionmaker(engine)
    chosen = random.Random(7).sample(range(BIG_PARENTS), probes)
    times, sizes, baseline = [], [], []
    proof: dict[str, Any] = {}
    for i in chosen:
        with sessions() as s:
            t0 = time.perf_counter()
            proof = serving.parent_proof(s, settings, institution_id=BIG,
                                         enrollment_id=f"enr_b{i}", day=DAY)  # fmt: skip
            times.append(time.perf_counter() - t0)
            sizes.append(len(json.dumps(proof, separators=(",", ":")).encode()))
            t0 = time.perf_counter()
            s.get(Enrollment, f"enr_b{i}")
            baseline.append(time.perf_counter() - t0)
    from service.proofs import keys as log_keys

    verify_parent_proof(proof, log_keys.keys(settings))  # the proofs served are right
    return {"proof": proof, "median_ms": statistics.median(times) * 1000,
            "first_ms": times[0] * 1000,
            "p95_ms": sorted(times)[int(len(times) * 0.95)] * 1000,
            "baseline_ms": statistics.median(baseline) * 1000, "bytes": max(sizes),
            "keys": log_keys.published(settings)}  # fmt: skip


def in_browser(proof: dict[str, Any], keys: dict[str, Any]) -> dict[str, float] | None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page()
        # Served from 127.0.0.1 (a secure context: WebCrypto is there), nothing on the wire.
        html = f"<!doctype html><title>bench</title><script>{STATIC.read_text()}</script>"
        page.route("http://127.0.0.1/**", lambda r: r.fulfill(body=html, content_type="text/html"))
        page.goto("http://127.0.0.1/bench")
        found = page.evaluate(
            """async ([proof, keys]) => {
                const text = JSON.stringify(proof), enc = new TextEncoder();
                const runs = [], base = [];
                for (let i = 0; i < 30; i++) {
                    let t = performance.now();
                    await window.TGProof.verifyProof(JSON.parse(text), keys);
                    runs.push(performance.now() - t);
                    t = performance.now();
                    await crypto.subtle.digest("SHA-256", enc.encode(text));
                    base.push(performance.now() - t);
                }
                const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
                return {median_ms: median(runs), baseline_ms: median(base)};
            }""",
            [proof, keys],
        )
        browser.close()
    return dict(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--institutions", type=int, default=10_000)
    ap.add_argument("--enrollments", type=int, default=1_000_000)
    ap.add_argument("--probes", type=int, default=200)
    args = ap.parse_args()
    print(f"machine speed before: {machine_speed():.0f} ms (lower is faster)", flush=True)
    with temporary_pg_database("bench_proofs") as url:
        upgrade(url)
        engine = make_engine(url, pool_size=4)
        _columns_needed(engine)
        settings = Settings(environment="test", database_url=url, secret_key="b" * 32,
                            log_signing_key="ef" * 32)  # fmt: skip
        watch = Stopwatch()
        seed(engine, args.institutions, args.enrollments)
        analyze(engine)
        print(f"seeded {args.institutions:,} institutions, {args.enrollments:,} enrollments and "
              f"one of {BIG_PARENTS:,} in {watch.elapsed:.1f} s", flush=True)  # fmt: skip
        grouped, rows = group_by(engine)
        took, summary = publish(engine, settings)
        again, _ = group_by(engine)
        base = min(grouped, again)
        print(f"1. GROUP BY of the same balances: {base:.2f} s ({rows:,} ledgers)")
        print(f"   publish_day: {took:.1f} s ({summary['snapshots']:,} snapshots, log of "
              f"{summary['log_size']:,}, anchor: {summary['anchored']}) = {took / base:.0f}x "
              f"the GROUP BY; goal under 60 s: {'met' if took < 60 else 'MISSED'}")  # fmt: skip
        analyze(engine)  # as autovacuum would after the day's rows: the proofs' plans
        settings = cosign(engine, settings)
        served = serve_proofs(engine, settings, args.probes)
        print(f"2. a proof of 65,536 leaves served: median {served['median_ms']:.2f} ms, p95 "
              f"{served['p95_ms']:.2f} ms, the first (nothing kept yet) "
              f"{served['first_ms']:.2f} ms (enrollment by key: {served['baseline_ms']:.2f} ms, "
              f"{served['median_ms'] / served['baseline_ms']:.0f}x); largest "
              f"{served['bytes']:,} bytes of JSON; goals under 5 ms "
              f"{'met' if served['median_ms'] < 5 else 'MISSED'}, under 8 KB "
              f"{'met' if served['bytes'] < 8192 else 'MISSED'}")  # fmt: skip
        found = in_browser(served["proof"], served["keys"])
        if found is None:
            print("3. no chromium: the browser's check not measured")
        else:
            print(f"3. checked in headless Chromium: median {found['median_ms']:.2f} ms (one "
                  f"SHA-256 of the proof's text: {found['baseline_ms']:.2f} ms); goal under "
                  f"20 ms: {'met' if found['median_ms'] < 20 else 'MISSED'}")  # fmt: skip
        engine.dispose()
    print(f"machine speed after: {machine_speed():.0f} ms", flush=True)


if __name__ == "__main__":
    main()
