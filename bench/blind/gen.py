#!/usr/bin/env python3
"""Blind history generator for TuitionGuard backtests (Wuhan, Hubei; Spring Festival 2026).

Written from the backtest contract, the domain notes and the API contract only. Python 3.11 stdlib, deterministic by seed.
usage: gen.py SEED OUT.jsonl TRUTH.json
"""
import datetime as dt
import json
import math
import random
import sys
from decimal import Decimal, ROUND_DOWN

TZ = dt.timezone(dt.timedelta(hours=8))
D = dt.date
START = D(2025, 10, 13)          # a Monday
DAYS = 240
END = START + dt.timedelta(days=DAYS - 1)   # 2026-06-09

HOLIDAYS = set()
for a, b in [(D(2026, 1, 1), D(2026, 1, 3)), (D(2026, 2, 15), D(2026, 2, 23)),
             (D(2026, 4, 4), D(2026, 4, 6)), (D(2026, 5, 1), D(2026, 5, 5))]:
    x = a
    while x <= b:
        HOLIDAYS.add(x)
        x += dt.timedelta(days=1)
WINTER_VAC = (D(2026, 1, 31), D(2026, 3, 1))      # Wuhan school winter vacation (subject training banned)
AUTUMN = (START, D(2026, 1, 30))
SPRING = (D(2026, 3, 2), END)
CAMP = [(D(2026, 1, 26), D(2026, 2, 13)), (D(2026, 2, 24), D(2026, 2, 28))]
SUSP_DISTRICT = "420111"                          # Hongshan: classes suspended by order
SUSP = (D(2026, 3, 23), D(2026, 4, 9))            # 18 days
SILENT_BANK = "A"
SILENCE = (D(2026, 4, 13), D(2026, 4, 20))        # six working days Mon..Mon
DISTRICTS = ["420102", "420103", "420104", "420105", "420106", "420111", "420107", "420113"]

GUIDE = {  # Wuhan 420100 (stated by this history): offline bands, online; float 10%
    "offline": [(1, 9, 60), (10, 35, 45), (36, None, 30)],
    "online": [(1, None, 15)],
}
STD = {"offline": 45, "online": 30}


def ceiling(mode, class_size, minutes):
    for lo, hi, base in GUIDE[mode]:
        if class_size >= lo and (hi is None or class_size <= hi):
            c = Decimal(base) * Decimal("1.1") * Decimal(minutes) / Decimal(STD[mode])
            return c.quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    raise ValueError


def money(x):
    return str(Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def ts(day, h, m=0, s=0):
    return dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=TZ)


MAKEUP = {D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9)}


def is_working(d):
    if d in HOLIDAYS:
        return False
    return d.weekday() < 5 or d in MAKEUP


def add_working(at, n):
    d = at.date()
    k = 0
    while k < n:
        d += dt.timedelta(days=1)
        if is_working(d):
            k += 1
    return ts(d, 10, 0) + dt.timedelta(minutes=at.minute)


def days(a, b):
    x = a
    while x <= b:
        yield x
        x += dt.timedelta(days=1)


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.events = []
        self.seq = 0
        self.txn = 0
        self.truth = {}

    def emit(self, at, typ, **f):
        self.seq += 1
        self.events.append((at, self.seq, dict(at=at.isoformat(), type=typ, **f)))

    def txid(self):
        self.txn += 1
        return f"BTX{self.txn:08d}"

    def pois(self, lam):
        if lam <= 0:
            return 0
        L, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.r.random()
            if p <= L:
                return k
            k += 1


# ------------------------------------------------------------------ schools
ARCH_FAIL = ["slow_bleed"] * 4 + ["pro_closer"] * 4 + ["chain_collapse"] * 4 + \
            ["teacher_walkout"] * 3 + ["sudden_disappearance"] * 3 + ["money_out"] * 2
ARCH_BENIGN = ["honest_chain"] * 8 + ["young_fair_launch"] * 6 + ["holiday_slow"] * 6 + \
              ["camp_surge"] * 8 + ["mover"] * 3 + ["ordinary"] * 29


def build(seed):
    g = Gen(seed)
    r = g.r
    g.emit(ts(START - dt.timedelta(days=1), 7), "price_guide", region_code="420100",
           effective_from="2022-01-01",
           items=[{"mode": m, "grade_band": "any", "class_size_min": lo, "class_size_max": hi,
                   "standard_minutes": STD[m], "base_price": str(base), "max_float_pct": "10"}
                  for m in ("offline", "online") for lo, hi, base in GUIDE[m]])
    schools = []
    n = 0
    fail_dates = []
    for a in ARCH_FAIL + ARCH_BENIGN:
        n += 1
        schools.append({"id": f"S{n:03d}", "arch": a, "failing": a in ARCH_FAIL})
    r.shuffle(schools)
    # sponsors
    chain_fail = [s for s in schools if s["arch"] == "chain_collapse"]
    honest = [s for s in schools if s["arch"] == "honest_chain"]
    for s in chain_fail:
        s["sponsor"] = "武汉鸿志教育科技有限公司"
    for i, s in enumerate(honest):
        s["sponsor"] = ["武汉博雅教育集团", "湖北启航教育投资有限公司"][i % 2]
    # a few ordinary schools also belong to healthy chains without any closure
    ords = [s for s in schools if s["arch"] == "ordinary"]
    for s in ords[:4]:
        s["sponsor"] = "武汉新东苑文化传播有限公司"
    banks = ["A", "B", "C"]
    for i, s in enumerate(schools):
        s["bank"] = banks[i % 3]
        s["district"] = DISTRICTS[r.randrange(len(DISTRICTS))]
    # make sure the suspended district has a fair share (about 1/6)
    for s in schools[::6]:
        s["district"] = SUSP_DISTRICT

    # failure dates
    def fd(lo, hi):
        return START + dt.timedelta(days=r.randint(lo, hi))
    c0 = D(2026, 3, 25) + dt.timedelta(days=r.randint(0, 10))
    for i, s in enumerate(sorted(chain_fail, key=lambda x: x["id"])):
        s["fail"] = c0 + dt.timedelta(days=i * r.randint(14, 21))
    for s in schools:
        a = s["arch"]
        s["created"] = START
        if a == "slow_bleed":
            s["fail"] = fd(170, 225)
        elif a == "pro_closer":
            s["created"] = START + dt.timedelta(days=r.randint(40, 120))
            s["fail"] = s["created"] + dt.timedelta(days=r.randint(95, 120))
            if s["fail"] > END - dt.timedelta(days=5):
                s["fail"] = END - dt.timedelta(days=5)
        elif a == "teacher_walkout":
            s["fail"] = fd(120, 225)
        elif a == "sudden_disappearance":
            s["fail"] = fd(90, 225)
        elif a == "money_out":
            s["fail"] = fd(110, 225)
        elif a == "young_fair_launch":
            s["created"] = START + dt.timedelta(days=r.randint(40, 150))
        s.setdefault("fail", None)
        # category and size
        s["category"] = "non_subject" if a == "camp_surge" or r.random() < 0.3 else "subject"
        s["online"] = (s["category"] == "subject" and a in ("ordinary", "holiday_slow") and r.random() < 0.25)
        s["size"] = r.randint(20, 200) if a not in ("pro_closer", "young_fair_launch") else r.randint(40, 160)
    # honest chain closures: one campus per sponsor
    for sp in ("武汉博雅教育集团", "湖北启航教育投资有限公司"):
        cs = [s for s in honest if s["sponsor"] == sp]
        c = cs[0]
        c["closure_notice"] = START + dt.timedelta(days=r.randint(100, 190))
        c["closure_eff"] = c["closure_notice"] + dt.timedelta(days=30)
    for s in schools:
        if s["arch"] == "mover":
            s["move_day"] = START + dt.timedelta(days=r.randint(60, 200))
    return g, schools


# ------------------------------------------------------------------ courses
def make_sessions(mode, cat, weekdays, start_h, start_m, minutes, a, b, camp=False):
    out = []
    for d in days(a, b):
        if d in HOLIDAYS:
            continue
        if cat == "subject":
            if d.weekday() >= 5:
                continue
            if WINTER_VAC[0] <= d <= WINTER_VAC[1]:
                continue
        if camp:
            if d.weekday() == 6:
                continue
        elif d.weekday() not in weekdays:
            continue
        s = ts(d, start_h, start_m)
        out.append((s, s + dt.timedelta(minutes=minutes)))
    return out


class Course:
    pass


def make_courses(g, s, cid):
    r = g.r
    courses = []
    ntracks = max(1, min(6, s["size"] // 35 + r.randint(0, 1)))
    if s["arch"] == "pro_closer":
        ntracks = max(ntracks, 4)
    for t in range(ntracks):
        online = s["online"] and t % 2 == 0
        mode = "online" if online else "offline"
        cat = s["category"]
        if online:
            minutes, cs = 30, r.choice([15, 20, 30])
            h, m = r.choice([(19, 0), (19, 40), (20, 20)])
        else:
            minutes = r.choice([60, 90]) if cat == "subject" else r.choice([60, 90, 120])
            cs = r.choice([6, 8, 12, 15, 20, 25, 30])
            h, m = (18, 0) if minutes <= 90 else (18, 0)
            if minutes == 120:
                h, m = 18, 15
        if cat == "subject":
            wd = r.choice([(0, 2), (1, 3), (2, 4), (0, 3), (1, 4)])
            grade = r.choice(["primary", "primary", "junior", "senior"])
        else:
            wd = r.choice([(2, 5), (5,), (6,), (1, 5), (3, 6)])
            grade = r.choice(["primary", "primary", "junior", "preschool"]) if mode == "offline" else "primary"
        ceil = ceiling(mode, cs, minutes)
        if s["arch"] in ("pro_closer",):
            price = ceil  # files at the ceiling, sells at half
        else:
            price = (ceil * Decimal(str(r.uniform(0.78, 1.0)))).quantize(Decimal("1"), rounding=ROUND_DOWN)
        terms = []
        if cat == "subject":
            terms = [AUTUMN, SPRING]
        else:
            terms = [(START, END)]
        for (a, b) in terms:
            a2 = max(a, s["created"])
            if a2 > b:
                continue
            c = Course()
            cid[0] += 1
            c.id = f"C{cid[0]:04d}"
            c.school = s
            c.mode, c.cat, c.grade, c.cs, c.minutes, c.price = mode, cat, grade, cs, minutes, price
            c.sessions = make_sessions(mode, cat, wd, h, m, minutes, a2 + dt.timedelta(days=1), b)
            c.track = t
            c.camp = False
            # filed 5 weeks before the term's first session, or when the school is created
            c.filed = max(s["created"], c.sessions[0][0].date() - dt.timedelta(days=35)) if c.sessions else s["created"]
            if c.sessions:
                courses.append(c)
    if s["arch"] == "camp_surge" or (s["category"] == "non_subject" and r.random() < 0.35):
        # winter camp course(s): daily mornings except Sundays and the holiday
        for k in range(1 if s["arch"] != "camp_surge" else 2):
            c = Course()
            cid[0] += 1
            c.id = f"C{cid[0]:04d}"
            c.school = s
            c.mode, c.cat, c.grade = "offline", "non_subject", "primary"
            c.cs = r.choice([20, 25, 30])
            c.minutes = 120
            c.price = (ceiling("offline", c.cs, 120) * Decimal(str(r.uniform(0.8, 0.97)))).quantize(Decimal("1"), rounding=ROUND_DOWN)
            c.sessions = []
            for (a, b) in CAMP:
                c.sessions += make_sessions("offline", "non_subject", (), 9 + 3 * k, 0, 120, a, b, camp=True)
            c.track = 100 + k
            c.camp = True
            c.filed = max(D(2025, 12, 10), s["created"])
            c.sessions = [x for x in c.sessions if x[0].date() > c.filed]
            if c.sessions:
                courses.append(c)
    return courses


# ------------------------------------------------------------------ behaviour
def progress(s, d, span):
    """0 before the signs begin, 1 at the failure date."""
    if not s["fail"]:
        return 0.0
    t0 = s["fail"] - dt.timedelta(days=span)
    if d <= t0:
        return 0.0
    return min(1.0, (d - t0).days / span)


def params(s, d):
    """Daily behaviour of a school (what a regulator's analyst would see in life)."""
    a = s["arch"]
    p = dict(new=1.0, renew=0.78, refund=0.0012, delay=(0, 2), dispute=0.03, complaint=0.006,
             ccat=["other", "refund"], ldisp=0.002, cancel=0.0, pay=1.0, pkg=(0.3, 0.4, 0.3),
             stopped=False)
    if a == "slow_bleed":
        x = progress(s, d, s["bleed_span"])
        p["new"] = 1.0 - 0.75 * x
        p["renew"] = 0.78 - 0.5 * x
        p["refund"] = 0.0012 + 0.0035 * x
        lo = int(round(1 + 3 * x))
        p["delay"] = (max(0, lo - 1), min(5, lo + (1 if x > 0.2 else 0)))
        if x > 0.85:
            p["delay"] = (3, 7)     # the last weeks: some answers past the deadline
        p["dispute"] = 0.03 + 0.45 * x
        p["complaint"] = 0.006 + 0.22 * x * x
        p["ccat"] = ["refund", "refund", "other", "teaching_quality"] if x > 0.3 else p["ccat"]
        p["ldisp"] = 0.002 + 0.02 * x
    elif a == "pro_closer":
        age = (d - s["created"]).days
        p["pay"] = 0.5
        p["pkg"] = (0.0, 0.1, 0.9)
        p["new"] = 2.2
        p["renew"] = 0.9
        if s["fail"] - d <= dt.timedelta(days=s["push_days"]):
            p["new"] = 4.0           # "renew before prices rise" push
            p["push"] = True
        p["refund"] = 0.0008
        x = progress(s, d, 21)
        p["complaint"] = 0.004 + 0.03 * x
        p["delay"] = (0, 2) if x < 0.5 else (1, 4)
    elif a == "chain_collapse":
        span = s["chain_span"]
        x = progress(s, d, span)
        p["new"] = 1.0 - 0.7 * x
        p["renew"] = 0.78 - 0.45 * x
        p["refund"] = 0.0012 + 0.006 * x
        p["delay"] = (int(1 + 2 * x), int(2 + 4 * x))
        p["dispute"] = 0.03 + 0.3 * x
        p["complaint"] = 0.006 + 0.25 * x * x
        p["ccat"] = ["refund", "teaching_stopped", "other"] if x > 0.3 else p["ccat"]
        p["cancel"] = 0.25 * x * x
        p["ldisp"] = 0.002 + 0.01 * x
    elif a == "teacher_walkout":
        left = (s["fail"] - d).days
        if left <= 14:
            p["cancel"] = 0.8
        elif left <= 28:
            p["cancel"] = 0.5
        elif left <= 45:
            p["cancel"] = 0.33
        x = progress(s, d, 45)
        p["new"] = 1.0 - 0.7 * x
        p["renew"] = 0.78 - 0.5 * x
        p["refund"] = 0.0012 + 0.008 * x
        p["complaint"] = 0.006 + 0.3 * x * x
        p["ccat"] = ["teaching_stopped", "teaching_stopped", "refund", "other"] if x > 0.2 else p["ccat"]
        p["delay"] = (1, 3) if x < 0.6 else (2, 6)
        p["dispute"] = 0.03 + 0.2 * x
        p["ldisp"] = 0.002 + 0.015 * x
    elif a == "sudden_disappearance":
        x = progress(s, d, 21)
        if s["last_push"] and x > 0:
            p["new"] = 1.8
            p["pay"] = 0.85
        p["delay"] = (0, 2) if x < 0.5 else (1, 4)
    elif a == "money_out":
        x = progress(s, d, 40)
        p["new"] = 1.0 + 0.6 * x
        p["pay"] = 1.0 - 0.15 * x
        p["delay"] = (0, 2) if x < 0.5 else (2, 5)
        p["complaint"] = 0.006 + 0.04 * x
        p["ccat"] = ["refund", "asked_to_pay_off_platform", "other"] if x > 0.4 else p["ccat"]
    elif a == "young_fair_launch":
        age = (d - s["created"]).days
        p["new"] = 2.0 if age < 30 else 1.2
        p["pay"] = s["launch_pay"] if age < 30 else 1.0
    elif a == "holiday_slow":
        if D(2026, 2, 8) <= d <= D(2026, 2, 27) or D(2025, 12, 29) <= d <= D(2026, 1, 4) \
                or D(2026, 4, 1) <= d <= D(2026, 4, 7) or D(2026, 4, 28) <= d <= D(2026, 5, 6):
            p["delay"] = (3, 5)
            p["working_days"] = True
        else:
            p["delay"] = (1, 3)
    elif a == "honest_chain":
        if s.get("closure_notice") and d >= s["closure_notice"]:
            p["new"] = 0.0
            p["renew"] = 0.0
            p["refund"] = 0.02
            p["delay"] = (0, 1)
            p["dispute"] = 0.0
            p["complaint"] = 0.01
    # season
    if d in HOLIDAYS:
        p["new"] *= 0.15
        p["refund"] *= 0.4
        p["complaint"] *= 0.4
    if D(2026, 2, 24) <= d <= D(2026, 3, 10):
        p["new"] *= 2.5           # spring term starts
    if D(2025, 12, 20) <= d <= D(2026, 1, 10):
        p["new"] *= 0.7
    if s["fail"] and d >= s["fail"]:
        p["stopped"] = True
    if s.get("closure_eff") and d >= s["closure_eff"]:
        p["stopped"] = True
    return p


# ------------------------------------------------------------------ simulation
def simulate(seed):
    g, schools = build(seed)
    r = g.r
    cid = [0]
    eid = [0]
    rid = [0]
    all_courses = []
    for s in schools:
        s["bleed_span"] = r.randint(95, 125)
        s["chain_span"] = r.randint(30, 50)
        s["push_days"] = r.randint(18, 28)
        s["last_push"] = r.random() < 0.67
        s["launch_pay"] = round(r.uniform(0.78, 0.9), 2)
        s["courses"] = make_courses(g, s, cid)
        all_courses += s["courses"]
    # chain_collapse: after the first campus fails, parents at the others hear of it
    chain = sorted([s for s in schools if s["arch"] == "chain_collapse"], key=lambda x: x["fail"])
    for i, s in enumerate(chain):
        if i > 0:
            s["chain_span"] = max(s["chain_span"], (s["fail"] - chain[0]["fail"]).days + 14)

    for s in schools:
        cat = s["category"]
        g.emit(ts(s["created"] if s["created"] > START else START - dt.timedelta(days=1), 8, 0, 1),
               "institution", id=s["id"],
               name=f"武汉{s['id']}培训学校", region_code=s["district"], category=cat,
               supervision_mode="custody", **({"sponsor": s["sponsor"]} if s.get("sponsor") else {}))
    for c in all_courses:
        at = ts(c.filed if c.filed > START else START - dt.timedelta(days=1), 8, 30, 0)
        if c.school["created"] > START and c.filed <= c.school["created"]:
            at = ts(c.school["created"], 8, 30)
        c.filed_at = at
        g.emit(at, "course", id=c.id, institution=c.school["id"], category=c.cat, grade_band=c.grade,
               mode=c.mode, class_size=c.cs, lesson_minutes=c.minutes, price_per_lesson=money(c.price),
               sessions=[{"starts_at": a.isoformat(), "ends_at": b.isoformat()} for a, b in c.sessions])

    enrollments = {}   # id -> dict
    pending_renew = []  # (date, school, track, probability-decided)

    def next_sessions(c, at):
        return [x for x in c.sessions if x[0] > at]

    def active_on(c, d):
        return sum(1 for e in c.enr if e["rem"] > 0 and not e["frozen"])

    for c in all_courses:
        c.enr = []

    def try_enroll(s, c, d, p, renewal=False):
        if d < s["created"] or ts(d, 23) < c.filed_at:
            return None
        h = r.randint(10, 19)
        at = ts(d, h, r.randint(0, 59), r.randint(0, 59))
        if at <= c.filed_at:
            at = c.filed_at + dt.timedelta(minutes=30)
        nx = next_sessions(c, at)
        if not nx:
            return None
        if nx[0][0] > at + dt.timedelta(days=28):
            return None
        if active_on(c, d) >= c.cs:
            return None
        k = r.choices([1, 2, 3], weights=p["pkg"])[0]
        horizon = at + dt.timedelta(days=min(88, 30 * k))
        lessons = [x for x in nx if x[0] <= horizon][:60]
        if c.camp:
            lessons = nx[:min(len(nx), r.choice([10, 14, 19]))]
            lessons = [x for x in lessons if x[0] <= at + dt.timedelta(days=88)]
        n = len(lessons)
        if n < 3:
            return None
        unit = c.price
        amt = (unit * n * Decimal(str(p["pay"]))).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        if c.cat == "non_subject" and amt > Decimal("5000"):
            n = int(Decimal("5000") / (unit * Decimal(str(p["pay"]))))
            amt = (unit * n * Decimal(str(p["pay"]))).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        eid[0] += 1
        e = dict(id=f"E{eid[0]:06d}", course=c, school=s, n=n, rem=n, amt=amt, at=at, frozen=False,
                 unit=amt / n, renewal=renewal)
        enrollments[e["id"]] = e
        c.enr.append(e)
        g.emit(at, "enrollment", id=e["id"], course=c.id, lessons=n, amount=money(amt))
        g.emit(at + dt.timedelta(minutes=r.randint(1, 40)), "deposit", bank_txn_id=g.txid(),
               institution=s["id"], enrollment=e["id"], amount=money(amt))
        return e

    def pick_course(s, d, track=None):
        cs = [c for c in s["courses"] if (track is None or c.track == track)]
        r.shuffle(cs)
        # camp courses sell in December/January
        return cs

    # per-school daily loop
    refunds_open = []
    for s in schools:
        s["complaints"] = 0
        s["outstanding_hint"] = Decimal(0)
    statements_days = {}
    for d in days(START, END):
        for s in schools:
            if d < s["created"]:
                continue
            p = params(s, d)
            if p["stopped"]:
                continue
            age = (d - s["created"]).days
            # initial cohort: schools open at the history's start already have students
            base = s["size"] / 200.0 * 0.3
            lam = base * p["new"]
            if s["created"] == START and age < 21:
                lam += s["size"] * 0.12 / 21
            if s["arch"] in ("pro_closer", "young_fair_launch") and age < 14:
                lam *= 1.5
            # camp season: camp course sales
            camp_courses = [c for c in s["courses"] if c.camp]
            if camp_courses and D(2026, 1, 2) <= d <= D(2026, 2, 10):
                mult = 5.0 if s["arch"] == "camp_surge" else 2.0
                for _ in range(g.pois(base * mult * 1.2)):
                    try_enroll(s, r.choice(camp_courses), d, p)
            for _ in range(g.pois(lam)):
                for c in pick_course(s, d):
                    if c.camp:
                        continue
                    if try_enroll(s, c, d, p):
                        break
            # closer's push: existing students renew early
            if p.get("push"):
                for c in s["courses"]:
                    for e in list(c.enr):
                        if e["rem"] > 0 and not e.get("pushed") and r.random() < 0.06:
                            e["pushed"] = True
                            for c2 in pick_course(s, d):
                                if not c2.camp and try_enroll(s, c2, d, p, renewal=True):
                                    break
        # pending renewals (term breaks)
        still = []
        for (dd, s, track) in pending_renew:
            if dd > d:
                still.append((dd, s, track))
                continue
            p = params(s, d)
            if p["stopped"]:
                continue
            ok = False
            for c in pick_course(s, d, track):
                if try_enroll(s, c, d, p, renewal=True):
                    ok = True
                    break
            if not ok and dd > d - dt.timedelta(days=30):
                still.append((d + dt.timedelta(days=r.randint(1, 4)), s, track))
        pending_renew = still

        # lessons
        for s in schools:
            if d < s["created"]:
                continue
            p = params(s, d)
            if p["stopped"]:
                continue
            susp = s["district"] == SUSP_DISTRICT and SUSP[0] <= d <= SUSP[1]
            for c in s["courses"]:
                for (a, b) in c.sessions:
                    if a.date() != d:
                        continue
                    if susp:
                        continue
                    if p["cancel"] and r.random() < p["cancel"]:
                        continue
                    for e in c.enr:
                        if e["rem"] <= 0 or e["frozen"] or e["at"] >= a:
                            continue
                        if r.random() < 0.03:   # absent, made up later
                            continue
                        e["rem"] -= 1
                        cat_ = b + dt.timedelta(minutes=r.randint(5, 90))
                        g.emit(cat_, "consumption", enrollment=e["id"], lessons=1)
                        e["last"] = cat_
                        if r.random() < p["ldisp"]:
                            g.emit(cat_ + dt.timedelta(hours=r.randint(12, 60)), "dispute", enrollment=e["id"])
                        if e["rem"] == 0:
                            if r.random() < p["renew"]:
                                if c.camp:
                                    continue
                                pending_renew.append((d + dt.timedelta(days=r.randint(0, 3)), s, c.track))

        # refunds, complaints
        for s in schools:
            if d < s["created"]:
                continue
            p = params(s, d)
            stopped = p["stopped"]
            after = s["fail"] and d >= s["fail"]
            if after and (d - s["fail"]).days > 12:
                continue
            if s.get("closure_eff") and d > s["closure_eff"]:
                continue
            act = [e for c in s["courses"] for e in c.enr if e["rem"] > 0 and not e["frozen"]]
            rp = p["refund"]
            if after:
                rp = 0.08       # parents find the doors closed
            closing_day = s.get("closure_eff") == d
            for e in act:
                if not (closing_day or r.random() < rp):
                    continue
                rid[0] += 1
                rq = f"R{rid[0]:06d}"
                at = ts(d, r.randint(8, 21), r.randint(0, 59)) if not closing_day else ts(d, 9, r.randint(0, 59))
                if at <= e["at"]:
                    continue
                if e.get("last") and at <= e["last"]:
                    at = e["last"] + dt.timedelta(minutes=r.randint(5, 40))
                e["frozen"] = True
                g.emit(at, "refund_request", id=rq, enrollment=e["id"], lessons=None)
                if stopped and not closing_day:
                    if s["arch"] == "money_out":
                        g.emit(at + dt.timedelta(days=6, hours=2), "refund_result", refund=rq, status="rejected")
                    continue            # nobody answers: escalation accepts it
                lo, hi = p["delay"] if not closing_day else (0, 0)
                dl = r.randint(lo, hi)
                if dl > 5:
                    continue            # silence past the deadline
                dec = "dispute" if r.random() < p["dispute"] else "accept"
                ans = at + dt.timedelta(days=dl, hours=r.randint(1, 6))
                if dl == 0:
                    ans = at + dt.timedelta(hours=r.randint(1, 3))
                if dl == 5:
                    ans = at + dt.timedelta(days=4, hours=r.randint(20, 23))
                if p.get("working_days") and not closing_day:
                    ans = add_working(at, dl) if dl > 0 else ans
                g.emit(ans, "refund_answer", refund=rq, decision=dec)
                if s["arch"] == "money_out" and s.get("drained") and dec == "accept":
                    g.emit(ans + dt.timedelta(hours=20), "refund_result", refund=rq, status="rejected")
            lamc = p["complaint"]
            if after:
                lamc = 1.5 * max(1, len(act)) / 20
            for _ in range(g.pois(lamc)):
                cat = r.choice(p["ccat"]) if not after else r.choice(["teaching_stopped", "refund", "refund"])
                g.emit(ts(d, r.randint(8, 21), r.randint(0, 59)), "complaint", institution=s["id"], category=cat)
            # money moved out
            if s["arch"] == "money_out" and not stopped:
                left = (s["fail"] - d).days
                if left in s["debits"]:
                    outst = sum((e["unit"] * e["rem"] for c in s["courses"] for e in c.enr if e["rem"] > 0),
                                Decimal(0))
                    amt = (outst * Decimal(str(s["debits"][left]))).quantize(Decimal("1"), rounding=ROUND_DOWN)
                    if amt > 0:
                        g.emit(ts(d, 14, r.randint(0, 59)), "bank_debit", institution=s["id"],
                               bank_txn_id=g.txid(), amount=money(amt))
                        if s["debits"][left] >= 0.3:
                            s["drained"] = True
            if s["arch"] == "mover" and d == s["move_day"]:
                g.emit(ts(d, 10), "registry_change", institution=s["id"], field="address")
            if s.get("closure_notice") == d:
                g.emit(ts(d, 10), "closure_notice", institution=s["id"], effective=s["closure_eff"].isoformat())
            if s["arch"] == "pro_closer" and s["fail"] - d == dt.timedelta(days=s.get("lp_change", 99)):
                pass
        # statements
        for s in schools:
            if d < s["created"]:
                continue
            b = s["bank"]
            if b == "A" and (d.weekday() >= 5 or SILENCE[0] <= d <= SILENCE[1]):
                continue
            if b == "B" and d in HOLIDAYS:
                continue
            g.emit(ts(d, 21, 30, int(s["id"][1:]) % 60), "statement", institution=s["id"])
    return g, schools


def main():
    seed = int(sys.argv[1])
    out = sys.argv[2]
    truthp = sys.argv[3]
    random.seed(seed)
    g = None
    # money_out debit schedule set before simulation via build hook
    g, schools = simulate_with_debits(seed)
    g.events.sort(key=lambda x: (x[0], x[1]))
    with open(out, "w") as f:
        for at, _, ev in g.events:
            f.write(json.dumps(ev, ensure_ascii=False) + "\n")
    truth = {}
    for s in schools:
        truth[s["id"]] = dict(archetype=s["arch"], failing=s["failing"],
                              failure_date=s["fail"].isoformat() if s["fail"] else None,
                              created=s["created"].isoformat(), district=s["district"], bank=s["bank"],
                              category=s["category"], sponsor=s.get("sponsor"),
                              closure_notice=s.get("closure_notice").isoformat() if s.get("closure_notice") else None,
                              closure_effective=s.get("closure_eff").isoformat() if s.get("closure_eff") else None,
                              move_day=s.get("move_day").isoformat() if s.get("move_day") else None,
                              enrollments=sum(len(c.enr) for c in s["courses"]),
                              courses=len(s["courses"]))
    meta = dict(seed=seed, start=START.isoformat(), end=END.isoformat(),
                suspension=dict(district=SUSP_DISTRICT, start=SUSP[0].isoformat(), end=SUSP[1].isoformat()),
                bank_silence=dict(bank=SILENT_BANK, start=SILENCE[0].isoformat(), end=SILENCE[1].isoformat()),
                holidays=sorted(x.isoformat() for x in HOLIDAYS),
                events=len(g.events))
    with open(truthp, "w") as f:
        json.dump(dict(meta=meta, institutions=truth), f, ensure_ascii=False, indent=1)
    print(json.dumps(meta["events"]))


_orig_build = build


def simulate_with_debits(seed):
    global build

    def build2(sd):
        g, schools = _orig_build(sd)
        for s in schools:
            if s["arch"] == "money_out":
                # three debits: a probe five weeks out, more two weeks out, the rest on the eve
                s["debits"] = {g.r.randint(30, 38): 0.12, g.r.randint(12, 18): 0.3, 1: 0.5}
        return g, schools
    build = build2
    try:
        return simulate(seed)
    finally:
        build = _orig_build


if __name__ == "__main__":
    main()
