#!/usr/bin/env python3
"""What the history itself shows for each failing school, window by window (no engine involved)."""
import json, sys, collections, datetime as dt
ev = [json.loads(l) for l in open(sys.argv[1])]
T = json.load(open(sys.argv[2]))["institutions"]
course_inst, enr_inst, ref_inst, ref_at = {}, {}, {}, {}
W = [(90, 61), (60, 31), (30, 15), (14, 1)]
st = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.Counter()))
delays = collections.defaultdict(lambda: collections.defaultdict(list))
P = lambda s: dt.datetime.fromisoformat(s)
def win(inst, at):
    f = T[inst]["failure_date"]
    if not f: return None
    dd = (dt.date.fromisoformat(f) - at.date()).days
    for a, b in W:
        if b <= dd <= a: return f"F-{a}..{b}"
    return None
for e in ev:
    t = e["type"]
    if t == "course": course_inst[e["id"]] = e["institution"]; continue
    if t == "enrollment": enr_inst[e["id"]] = course_inst[e["course"]]
    inst = e.get("institution") or (enr_inst.get(e.get("enrollment")) if e.get("enrollment") else None)
    if t == "refund_request": ref_inst[e["id"]] = enr_inst[e["enrollment"]]; ref_at[e["id"]] = P(e["at"])
    if t == "refund_answer": inst = ref_inst[e["refund"]]
    if not inst or not T[inst]["failing"]: continue
    at = P(e["at"]); w = win(inst, at)
    if not w: continue
    if t == "deposit": st[inst][w]["deposit_yuan"] += float(e["amount"]); st[inst][w]["enrollments"] += 1
    elif t == "refund_answer":
        st[inst][w]["answers"] += 1; st[inst][w]["contested"] += e["decision"] == "dispute"
        delays[inst][w].append((at - ref_at[e["refund"]]).total_seconds() / 86400)
    elif t in ("consumption", "refund_request", "complaint", "dispute", "bank_debit"): st[inst][w][t] += 1
print("| inst | archetype | window | enrol | deposits ¥ | lessons | refund req | answers (contested) | mean answer days | complaints | lesson disputes | bank_debit |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for k in sorted(st):
    for a, b in W:
        w = f"F-{a}..{b}"; c = st[k][w]; dl = delays[k][w]
        print(f"| {k} | {T[k]['archetype']} | {w} | {c['enrollments']} | {c['deposit_yuan']:.0f} | {c['consumption']} | {c['refund_request']} | {c['answers']} ({c['contested']}) | {sum(dl)/len(dl) if dl else 0:.1f} | {c['complaint']} | {c['dispute']} | {c['bank_debit']} |")
