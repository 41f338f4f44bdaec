#!/usr/bin/env python3
"""Figures from a backtest's levels against the blind truth file. usage: analyze.py LEVELS TRUTH"""
import collections
import datetime as dt
import json
import statistics
import sys

HIGH = {"high", "critical"}
lv = collections.defaultdict(dict)   # inst -> date -> rec
summary = None
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "summary" in o:
        summary = o["summary"]
        continue
    lv[o["institution"]][o["date"]] = o
T = json.load(open(sys.argv[2]))
meta, inst = T["meta"], T["institutions"]
D = dt.date.fromisoformat


def ind(rec):
    return ",".join(f"{i['code']}={i['value']}" for i in rec["indicators"]) or "-"


def codes(rec):
    return ",".join(sorted(i["code"] for i in rec["indicators"])) or "-"


out = []
p = out.append
p(f"summary line: {summary}")
fail = {k: v for k, v in inst.items() if v["failing"]}
ben = {k: v for k, v in inst.items() if not v["failing"]}
rows = []
per = collections.defaultdict(list)
for k, v in sorted(fail.items()):
    f = D(v["failure_date"])
    days = sorted((D(d), r) for d, r in lv[k].items() if D(d) < f)
    highs = [d for d, r in days if r["level"] in HIGH]
    first = highs[0] if highs else None
    lead = (f - first).days if first else None
    r14 = any((f - d).days >= 14 for d in highs)
    maxlvl = max((r["level"] for d, r in days), key=["low", "medium", "high", "critical"].index, default="-")
    rows.append((k, v["archetype"], v["failure_date"], first, lead, r14, maxlvl))
    per[v["archetype"]].append((first is not None, r14, lead))
n = len(rows)
rec = sum(1 for r in rows if r[3]) / n
rec14 = sum(1 for r in rows if r[5]) / n
leads = [r[4] for r in rows if r[4] is not None]
p(f"failing {n}; recall (>=high before failure) {rec:.2f}; recall at 14 days {rec14:.2f}; "
  f"median lead {statistics.median(leads) if leads else None} days (of those caught)")
p("")
p("| inst | archetype | failure | first high | lead d | >=14d | max level before |")
p("|---|---|---|---|---|---|---|")
for r in rows:
    p(f"| {r[0]} | {r[1]} | {r[2]} | {r[3] or '-'} | {r[4] if r[4] is not None else '-'} | {'yes' if r[5] else 'no'} | {r[6]} |")
p("")
p("per failing archetype: n, recall, recall@14, median lead")
for a, xs in sorted(per.items()):
    ls = [x[2] for x in xs if x[2] is not None]
    p(f"- {a}: n={len(xs)} recall={sum(x[0] for x in xs)}/{len(xs)} recall@14={sum(x[1] for x in xs)}/{len(xs)} "
      f"median lead={statistics.median(ls) if ls else '-'}")
# benign
fp = {}
perb = collections.defaultdict(lambda: [0, 0])
for k, v in sorted(ben.items()):
    hd = sorted(d for d, r in lv[k].items() if r["level"] in HIGH)
    perb[v["archetype"]][1] += 1
    if hd:
        fp[k] = hd
        perb[v["archetype"]][0] += 1
p("")
p(f"benign {len(ben)}; ever >= high: {len(fp)} -> false-positive rate {len(fp)/len(ben):.3f}")
for a, (x, m) in sorted(perb.items()):
    p(f"- {a}: {x}/{m} ever >= high")
for k, hd in fp.items():
    v = ben[k]
    p(f"  FP {k} ({v['archetype']}, district {v['district']}, bank {v['bank']}, closure_eff {v['closure_effective']}): "
      f"{len(hd)} days >= high, first {hd[0]}, last {hd[-1]}; first-day indicators: {ind(lv[k][hd[0]])}")
# shocks
def benign_high_on(dates, filt=lambda v: True):
    res = {}
    for d in dates:
        ks = [k for k, v in ben.items() if filt(v) and lv[k].get(d, {}).get("level") in HIGH]
        res[d] = ks
    return res


def drange(a, b):
    a, b = D(a), D(b)
    while a <= b:
        yield a.isoformat()
        a += dt.timedelta(days=1)


s = meta["bank_silence"]
sil = benign_high_on(list(drange(s["start"], (D(s["end"]) + dt.timedelta(days=3)).isoformat())))
p("")
p(f"bank silence (bank {s['bank']}, {s['start']}..{s['end']}, +3 days): benign >= high per day: "
  + ", ".join(f"{d[5:]}:{len(v)}" for d, v in sil.items()))
p("  medium-or-above among the silent bank's benign schools on " + s["end"] + ": " +
  str(sum(1 for k, v in ben.items() if v["bank"] == s["bank"] and lv[k].get(s["end"], {}).get("level") in ("medium", "high", "critical")))
  + f" of {sum(1 for v in ben.values() if v['bank'] == s['bank'])}; statement_missing there: " +
  str(sum(1 for k, v in ben.items() if v['bank'] == s['bank'] and any(i['code'] == 'statement_missing' for i in lv[k].get(s['end'], {}).get('indicators', [])))))
u = meta["suspension"]
sus = benign_high_on(list(drange(u["start"], (D(u["end"]) + dt.timedelta(days=3)).isoformat())))
p(f"suspension (district {u['district']}, {u['start']}..{u['end']}, +3 days): benign >= high per day: "
  + ", ".join(f"{d[5:]}:{len(v)}" for d, v in sus.items()))
p("  medium-or-above among the district's benign schools on " + u["end"] + ": " +
  str(sum(1 for k, v in ben.items() if v["district"] == u["district"] and lv[k].get(u["end"], {}).get("level") in ("medium", "high", "critical")))
  + f" of {sum(1 for v in ben.values() if v['district'] == u['district'])}")
sf = benign_high_on(list(drange("2026-02-13", "2026-02-27")))
p("Spring Festival window 02-13..02-27: benign >= high per day: " + ", ".join(f"{d[5:]}:{len(v)}" for d, v in sf.items()))
# level distribution of benign, by month
p("")
p("benign institution-days by level: " + str(collections.Counter(r["level"] for k in ben for r in lv[k].values())))
p("failing institution-days before failure by level: " + str(collections.Counter(
    r["level"] for k, v in fail.items() for d, r in lv[k].items() if D(d) < D(v["failure_date"]))))
p("indicator codes seen (institution-days): " + str(collections.Counter(
    i["code"] for k in lv for r in lv[k].values() for i in r["indicators"])))
# misses: last 30 days
p("")
p("## Last 30 days of each failing institution not at high 14 days ahead")
for r in rows:
    if r[5]:
        continue
    k = r[0]
    f = D(inst[k]["failure_date"])
    p(f"### {k} ({r[1]}, failure {r[2]}, first high {r[3] or 'never'})")
    prev = None
    for i in range(30, 0, -1):
        d = (f - dt.timedelta(days=i)).isoformat()
        rec_ = lv[k].get(d)
        if not rec_:
            continue
        key = (rec_["level"], codes(rec_))
        if key != prev:
            p(f"- {d} (F-{i}): {rec_['level']} {rec_['score']} [{ind(rec_)}]")
            prev = key
print("\n".join(out))
