"use strict";
// The regulator's dashboard: everything comes from /api/v1 with the token kept in this tab only.
const api = async (path, options = {}) => {
  const token = sessionStorage.getItem("tg-regulator");
  const res = await fetch("/api/v1" + path, {
    ...options,
    headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) { throw Object.assign(new Error(body.detail || res.statusText), { status: res.status, body }); }
  return body;
};
const $ = (sel) => document.querySelector(sel);
const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text ?? "—"; if (cls) td.className = cls; return td; };
const badge = (level) => { const s = document.createElement("span"); s.className = "level level-" + (level || "none"); s.textContent = level || "not evaluated"; return s; };

async function loadInstitutions() {
  const level = $("#filter-level").value;
  const data = await api("/institutions?limit=500" + (level ? "&risk_level=" + level : ""));
  const body = $("#institutions tbody");
  body.replaceChildren();
  for (const inst of data.items) {
    const tr = document.createElement("tr");
    tr.className = "clickable";
    tr.dataset.id = inst.id;
    const risk = document.createElement("td"); risk.append(badge(inst.risk.level));
    tr.append(cell(inst.name), cell(inst.region_code), cell(inst.status), risk,
      cell(inst.balances.escrow, "num"), cell(inst.balances.prepaid_outstanding, "num"), cell(inst.balances.suspense, "num"));
    tr.addEventListener("click", () => showInstitution(inst.id));
    body.append(tr);
  }
}

async function loadAlerts() {
  const data = await api("/risk/alerts?status=open&limit=500");
  const names = Object.fromEntries([...document.querySelectorAll("#institutions tbody tr")].map((tr) => [tr.dataset.id, tr.firstChild.textContent]));
  const body = $("#alerts tbody");
  body.replaceChildren();
  for (const alert of data.items) {
    const tr = document.createElement("tr");
    const lvl = document.createElement("td"); lvl.append(badge(alert.level));
    const act = document.createElement("td");
    const ack = document.createElement("button"); ack.textContent = "Acknowledge"; ack.className = "ack";
    ack.addEventListener("click", async () => {
      const note = prompt("Note for the record", "reviewed") || "reviewed";
      await api(`/risk/alerts/${alert.id}/acknowledge`, { method: "POST", body: JSON.stringify({ note }) });
      await refresh();
    });
    act.append(ack);
    tr.append(cell(names[alert.institution_id] || alert.institution_id), lvl, cell(alert.opened_at.slice(0, 10)), act);
    body.append(tr);
  }
}

function drawHistory(items) {
  const svg = $("#history");
  svg.replaceChildren();
  if (!items.length) return;
  const step = items.length > 1 ? 300 / (items.length - 1) : 0;
  const points = items.map((h, i) => `${(i * step).toFixed(1)},${(60 - h.score * 0.6).toFixed(1)}`).join(" ");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points); line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#a33a00"); line.setAttribute("stroke-width", "2");
  svg.append(line);
}

async function showInstitution(id) {
  const inst = await api("/institutions/" + id);
  const history = await api(`/institutions/${id}/risk-history`);
  $("#detail").hidden = false;
  $("#detail").dataset.id = id;
  $("#detail-name").textContent = inst.name;
  $("#detail-summary").textContent = `${inst.credit_code} · ${inst.region_code} · ${inst.status} · score ${inst.risk.score ?? "—"} (${inst.risk.level ?? "not evaluated"})`;
  // Under a risk reserve the reserve, not only the escrow, stands behind the parents' refunds.
  const b = inst.balances;
  let money = `Escrow ${b.escrow} · owed to parents ${b.prepaid_outstanding} · suspense ${b.suspense}`;
  money += inst.supervision_mode === "reserve"
    ? ` · risk reserve ${b.reserve} (account ${inst.reserve_account_no})`
    : " · bank custody";
  $("#detail-balances").textContent = money;
  const body = $("#indicators tbody");
  body.replaceChildren();
  for (const ind of inst.risk.indicators || []) {
    const tr = document.createElement("tr");
    tr.append(cell(ind.code), cell(ind.value), cell(ind.threshold), cell(String(ind.contribution), "num"), cell((ind.evidence || []).join(", ")));
    body.append(tr);
  }
  drawHistory(history.items);
}

async function setStatus(action) {
  const id = $("#detail").dataset.id;
  const reason = prompt("Reason, for the audit log", action === "freeze" ? "risk review" : "resolved") || action;
  await api(`/institutions/${id}/${action}`, { method: "POST", body: JSON.stringify({ reason }) });
  await refresh();
  await showInstitution(id);
}

async function refresh() { await loadInstitutions(); await loadAlerts(); }

async function start() {
  try {
    const banks = await api("/banks?limit=1");  // proves the token before anything is shown
    void banks;
    $("#login").hidden = true; $("#app").hidden = false;
    await refresh();
  } catch (err) {
    sessionStorage.removeItem("tg-regulator");
    $("#app").hidden = true; $("#login").hidden = false;
    if (err.status) $("#login-error").textContent = err.message;
  }
}

$("#login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("tg-regulator", $("#token").value.trim());
  start();
});
$("#signout").addEventListener("click", () => { sessionStorage.removeItem("tg-regulator"); location.reload(); });
$("#sweep").addEventListener("click", async () => { await api("/risk/sweeps", { method: "POST", body: "{}" }); await refresh(); });
$("#filter-level").addEventListener("change", loadInstitutions);
$("#freeze").addEventListener("click", () => setStatus("freeze"));
$("#unfreeze").addEventListener("click", () => setStatus("unfreeze"));
if (sessionStorage.getItem("tg-regulator")) start(); else $("#login").hidden = false;
