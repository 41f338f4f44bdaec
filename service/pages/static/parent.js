"use strict";
const $ = (sel) => document.querySelector(sel);
const api = async (path, options = {}) => {
  const res = await fetch("/api/v1/parent" + path, {
    ...options,
    headers: { "Authorization": "Bearer " + sessionStorage.getItem("tg-parent"), "Content-Type": "application/json" },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.detail || res.statusText), { status: res.status });
  return body;
};
const row = (label, value) => { const tr = document.createElement("tr"); const a = document.createElement("th"); a.textContent = label; const b = document.createElement("td"); b.textContent = value; b.className = "num"; tr.append(a, b); return tr; };

async function show() {
  const e = await api("/enrollment");
  $("#title").textContent = `${e.institution.name} · ${e.course.title}`;
  $("#summary tbody").replaceChildren(
    row("Paid", e.amount_paid), row("Used", e.amount_consumed), row("Refundable", e.refundable_amount),
    row("Lessons used", `${e.lessons_consumed} / ${e.lessons}`), row("Status", e.status));
  const lessons = await api("/consumptions");
  const body = $("#lessons tbody");
  body.replaceChildren();
  for (const c of lessons.items) {
    const tr = document.createElement("tr");
    for (const [v, cls] of [[c.occurred_at.slice(0, 16).replace("T", " "), ""], [String(c.lessons), "num"], [c.amount, "num"], [c.status, ""]]) {
      const td = document.createElement("td"); td.textContent = v; if (cls) td.className = cls; tr.append(td);
    }
    const act = document.createElement("td");
    if (c.status === "pending") {
      const b = document.createElement("button"); b.textContent = "This lesson did not happen"; b.className = "dispute";
      b.addEventListener("click", async () => { await api(`/consumptions/${c.id}/dispute`, { method: "POST", body: JSON.stringify({ reason: "reported by parent" }) }); await show(); });
      act.append(b);
    }
    tr.append(act);
    body.append(tr);
  }
}

$("#refund").addEventListener("click", async () => {
  try {
    const r = await api("/refunds", { method: "POST", body: JSON.stringify({ reason: "requested on the parent page" }) });
    $("#refund-status").textContent = `Refund ${r.amount} requested; the school must answer by ${r.respond_by.slice(0, 10)}.`;
    await show();
  } catch (err) { $("#refund-status").textContent = err.message; }
});

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const res = await fetch("/api/v1/parent/sessions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ enrollment_id: $("#enrollment").value.trim(), access_code: $("#code").value.trim() }) });
  const body = await res.json();
  if (!res.ok) { $("#login-error").textContent = body.detail; return; }
  sessionStorage.setItem("tg-parent", body.token);
  $("#login").hidden = true; $("#app").hidden = false;
  await show();
});
$("#signout").addEventListener("click", () => { sessionStorage.removeItem("tg-parent"); location.reload(); });
if (sessionStorage.getItem("tg-parent")) { $("#app").hidden = false; show().catch(() => { sessionStorage.removeItem("tg-parent"); location.reload(); }); }
else $("#login").hidden = false;
