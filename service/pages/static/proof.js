// The parent's own check of their liability proof (docs/proofs.md, format v1), run in the
// browser on every visit of the parent's page, with WebCrypto only (SHA-256 and Ed25519):
// nothing from elsewhere, nothing the page's server computes for it. It mirrors tgproof/
// (the independent verifier): the two leaves folded up their paths to the root, the parts
// adding up to the amount, the log entry naming this institution, day, root and total, the
// entry's inclusion in the checkpoint (RFC 9162), the log's signature and a quorum of
// witnesses' cosignatures. Any failure is a failed proof, said plainly.
"use strict";

(function () {
  const enc = new TextEncoder();
  const MAX_SUM = 1n << 63n;

  class ProofError extends Error {}

  function fail(why) {
    throw new ProofError(why);
  }

  function concat(...parts) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async function sha256(...parts) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
  }

  function hex(text, what) {
    if (typeof text !== "string" || !/^[0-9a-f]{64}$/.test(text)) fail(what + " is not 32 bytes of lowercase hex");
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return out;
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function b64(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) fail("not standard base64");
    const raw = atob(text);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  function whole(value, what) {
    if (!Number.isSafeInteger(value) || value < 0) fail(what + " is not a whole number");
    return BigInt(value);
  }

  function u64be(value) {
    if (value < 0n || value >= MAX_SUM) fail("sum out of range");
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, value);
    return out;
  }

  function fen(yuan) {
    const m = typeof yuan === "string" && /^(0|[1-9][0-9]*)\.([0-9]{2})$/.exec(yuan);
    if (!m) fail("not an amount in yuan with two decimals");
    return BigInt(m[1]) * 100n + BigInt(m[2]);
  }

  function yuan(amount) {
    return (amount / 100n).toString() + "." + (amount % 100n).toString().padStart(2, "0");
  }

  // The sum tree (§2).
  const HOLDER = enc.encode("tg-pol-holder-v1\0");
  const LEAF = concat(new Uint8Array([0]), enc.encode("tg-pol-leaf-v1\0"));
  const NODE = concat(new Uint8Array([1]), enc.encode("tg-pol-node-v1\0"));
  const ZERO = new Uint8Array([0]);

  async function node(left, right) {
    const sum = left.sum + right.sum;
    u64be(sum);
    return { hash: await sha256(NODE, left.hash, u64be(left.sum), right.hash, u64be(right.sum)), sum };
  }

  async function foldLeaf(item, snapshotId, enrollmentId, count) {
    const part = Number(whole(item.part, "part"));
    if (part !== 0 && part !== 1) fail("part must be 0 or 1");
    const salt = hex(item.salt, "salt");
    const amount = whole(item.amount, "amount");
    const index = Number(whole(item.index, "index"));
    if (!Array.isArray(item.path)) fail("path is a list");
    const holder = await sha256(HOLDER, enc.encode(enrollmentId), ZERO, new Uint8Array([part]), salt);
    let current = { hash: await sha256(LEAF, enc.encode(snapshotId), ZERO, holder, u64be(amount)), sum: amount };
    const height = Math.log2(count);
    if (index >= count) fail("index outside the tree");
    if (item.path.length !== height) fail("a path has one sibling per level");
    for (let i = 0; i < height; i++) {
      const step = item.path[i];
      if (!step || typeof step !== "object") fail("a path step is {hash, sum}");
      const sibling = { hash: hex(step.hash, "path hash"), sum: whole(step.sum, "path sum") };
      u64be(sibling.sum);
      current = (index >> i) & 1 ? await node(sibling, current) : await node(current, sibling);
    }
    return { part, index, amount, root: current };
  }

  async function verifyLeaves(proof) {
    const count = Number(whole(proof.leaf_count, "leaf_count"));
    if (count < 1024 || (count & (count - 1)) !== 0 || count > 2 ** 30) fail("leaf_count is not a power of two of at least 1024");
    if (!proof.root || typeof proof.root !== "object") fail("root is not {hash, sum}");
    const root = { hash: hex(proof.root.hash, "root.hash"), sum: whole(proof.root.sum, "root.sum") };
    u64be(root.sum);
    if (typeof proof.snapshot_id !== "string" || typeof proof.enrollment_id !== "string") fail("snapshot_id and enrollment_id are strings");
    const leaves = proof.leaves;
    if (!Array.isArray(leaves) || leaves.length !== 2) fail("a proof has exactly two leaves, parts 0 and 1");
    const found = [];
    for (const item of leaves) {
      if (!item || typeof item !== "object") fail("a leaf is an object");
      const got = await foldLeaf(item, proof.snapshot_id, proof.enrollment_id, count);
      if (!equal(got.root.hash, root.hash) || got.root.sum !== root.sum) fail("leaf part " + got.part + " does not reach the root");
      found.push(got);
    }
    if (found[0].part === found[1].part) fail("a proof has exactly two leaves, parts 0 and 1");
    if (found[0].index === found[1].index) fail("the two parts claim the same leaf");
    const total = found[0].amount + found[1].amount;
    if (total !== fen(proof.amount)) fail("the parts add up to " + yuan(total) + ", not " + proof.amount);
    return { amount: total, root };
  }

  // The log's entry (§4).
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  function verifyEntry(proof, root) {
    if (proof.version !== 1) fail("only version 1 proofs are known");
    const part = proof.log;
    if (!part || typeof part !== "object" || typeof part.entry !== "string") fail("log is {index, entry, inclusion, checkpoint}");
    let entry;
    try {
      entry = JSON.parse(part.entry);
    } catch (e) {
      fail("log.entry is not JSON");
    }
    if (!entry || typeof entry !== "object" || canonical(entry) !== part.entry) fail("log.entry is not canonical JSON");
    const wanted = {
      kind: "liabilities",
      institution_id: proof.institution_id,
      date: proof.date,
      snapshot_id: proof.institution_id + "/" + proof.date,
      root: toHex(root.hash),
      total: yuan(root.sum),
      leaf_count: proof.leaf_count,
    };
    for (const [key, value] of Object.entries(wanted)) {
      if (entry[key] !== value) fail("the log entry's " + key + " is " + JSON.stringify(entry[key]) + ", not " + JSON.stringify(value));
    }
    if (proof.snapshot_id !== wanted.snapshot_id) fail("snapshot_id is not <institution_id>/<date>");
    return entry;
  }

  // RFC 9162 §2.1.3.2.
  async function verifyInclusion(leaf, index, size, path, root) {
    if (!(index >= 0 && index < size)) fail("log index outside the log");
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of path) {
      if (sn === 0) fail("log inclusion proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(new Uint8Array([1]), p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await sha256(new Uint8Array([1]), r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0 || !equal(r, root)) fail("log inclusion proof does not reach the checkpoint's root");
  }

  // Checkpoints and keys (§5).
  const DASH = "\u2014 ";

  async function keyId(name, type, publicKey) {
    return (await sha256(enc.encode(name + "\n"), new Uint8Array([type]), publicKey)).slice(0, 4);
  }

  async function parseVkey(text, type) {
    const parts = typeof text === "string" ? text.split("+") : [];
    if (parts.length < 3) fail("not a vkey");
    const name = parts[0];
    const raw = b64(parts.slice(2).join("+"));
    if (raw.length !== 33 || raw[0] !== type) fail("vkey " + name + " is not an Ed25519 key of its type");
    const publicKey = raw.slice(1);
    const id = await keyId(name, type, publicKey);
    if (toHex(id) !== parts[1]) fail("vkey " + name + ": its key ID does not match its key");
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return { name, type, id, key };
  }

  async function parseKeys(data) {
    if (!data || typeof data !== "object" || !Array.isArray(data.witnesses)) fail("the keys are not {log, witnesses, quorum}");
    if (!Number.isSafeInteger(data.quorum) || data.quorum < 0) fail("quorum is not a whole number");
    const witnesses = [];
    for (const w of data.witnesses) witnesses.push(await parseVkey(w, 4));
    return { log: await parseVkey(data.log, 1), witnesses, quorum: data.quorum };
  }

  function splitNote(text) {
    if (typeof text !== "string") fail("log.checkpoint is not a string");
    const cut = text.lastIndexOf("\n\n");
    if (cut < 0 || !text.endsWith("\n")) fail("not a signed note");
    const body = text.slice(0, cut + 1);
    const signatures = text.slice(cut + 2, -1).split("\n").map((line) => {
      if (!line.startsWith(DASH)) fail("not a signature line");
      const rest = line.slice(DASH.length);
      const space = rest.indexOf(" ");
      if (space <= 0) fail("bad signature line");
      const blob = b64(rest.slice(space + 1));
      if (blob.length < 5) fail("a signature line too short");
      return { name: rest.slice(0, space), blob };
    });
    return { body, signatures };
  }

  function parseCheckpoint(body) {
    const lines = body.split("\n");
    if (lines.length !== 4 || lines[3] !== "" || !lines[0]) fail("a checkpoint body is three lines: origin, size, root");
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("checkpoint size is not a decimal number");
    const root = b64(lines[2]);
    if (root.length !== 32) fail("checkpoint root is not 32 bytes");
    return { origin: lines[0], size: Number(lines[1]), root };
  }

  async function ed25519(key, signature, message) {
    try {
      return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
    } catch (e) {
      return false;
    }
  }

  async function signedBy(verifier, body, signatures) {
    for (const sig of signatures) {
      if (sig.name !== verifier.name || !equal(sig.blob.slice(0, 4), verifier.id)) continue;
      if (verifier.type === 1 && sig.blob.length === 68) {
        if (await ed25519(verifier.key, sig.blob.slice(4), enc.encode(body))) return true;
      } else if (verifier.type === 4 && sig.blob.length === 76) {
        const stamp = new DataView(sig.blob.buffer, sig.blob.byteOffset + 4, 8).getBigUint64(0);
        const message = enc.encode("cosignature/v1\ntime " + stamp.toString() + "\n" + body);
        if (await ed25519(verifier.key, sig.blob.slice(12), message)) return true;
      }
    }
    return false;
  }

  async function verifyCheckpoint(text, keys) {
    const { body, signatures } = splitNote(text);
    const checkpoint = parseCheckpoint(body);
    if (checkpoint.origin !== keys.log.name) fail("checkpoint origin is not the log's key name");
    if (!(await signedBy(keys.log, body, signatures))) fail("the checkpoint does not carry a valid signature of the log's key");
    let cosigned = 0;
    for (const w of keys.witnesses) if (await signedBy(w, body, signatures)) cosigned++;
    if (cosigned < keys.quorum) fail("the checkpoint has " + cosigned + " valid witness cosignatures, fewer than the quorum of " + keys.quorum);
    return checkpoint;
  }

  async function verifyProof(proof, keysData) {
    if (!proof || typeof proof !== "object") fail("a proof is a JSON object");
    const keys = await parseKeys(keysData);
    const { amount, root } = await verifyLeaves(proof);
    const entry = verifyEntry(proof, root);
    const checkpoint = await verifyCheckpoint(proof.log.checkpoint, keys);
    if (!Array.isArray(proof.log.inclusion)) fail("log.inclusion is a list");
    const path = proof.log.inclusion.map((h) => hex(h, "log.inclusion hash"));
    const index = Number(whole(proof.log.index, "log.index"));
    const leaf = await sha256(ZERO, enc.encode(proof.log.entry));
    await verifyInclusion(leaf, index, checkpoint.size, path, checkpoint.root);
    return { amount, total: root.sum, entry, checkpoint, date: proof.date };
  }

  // The page: the verdict in the parent's language (the sentences come with the page).
  function money(amount) {
    const text = yuan(amount);
    const [whole_, cents] = text.split(".");
    return "¥" + whole_.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + cents;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, k) => values[k]);
  }

  function dayEnd(date) {
    // The end of a Beijing day: 24:00 at UTC+8.
    return Date.parse(date + "T00:00:00+08:00") + 24 * 3600 * 1000;
  }

  async function check(box) {
    const say = box.dataset;
    const status = box.querySelector("[data-proof-status]");
    const failed = box.querySelector("[data-proof-failed]");
    const started = performance.now();
    let proof = null;
    try {
      const [answer, keysAnswer] = await Promise.all([
        fetch(say.proofUrl, { credentials: "same-origin", headers: { Accept: "application/json" } }),
        fetch(say.keysUrl, { headers: { Accept: "application/json" } }),
      ]);
      if (answer.status === 404) {
        status.textContent = say.none;
        box.dataset.state = "none";
        return;
      }
      if (!answer.ok || !keysAnswer.ok) fail("the proof or the log's keys could not be fetched (" + answer.status + ")");
      proof = await answer.json();
      const keysData = await keysAnswer.json();
      if (!(crypto && crypto.subtle)) fail("this browser cannot check signatures");
      const found = await verifyProof(proof, keysData);
      const attested = found.entry.attested_balance;
      const values = { amount: money(found.amount), institution: say.institution, total: money(found.total), date: found.date };
      let line;
      if (attested === null) {
        line = fill(say.verifiedNoBank, values);
      } else {
        const bank = fen(attested);
        values.bank = money(bank);
        values.coverage = found.total === 0n ? "—" : (Number((bank * 1000n) / found.total) / 10).toFixed(1) + "%";
        line = fill(say.verified, values);
      }
      status.textContent = line;
      box.dataset.state = "verified";
      const detail = box.querySelector("[data-proof-detail]");
      detail.textContent = fill(say.detail, { date: found.date, index: proof.log.index, size: found.checkpoint.size });
      if (Date.now() - dayEnd(found.date) > 36 * 3600 * 1000) {
        const stale = box.querySelector("[data-proof-stale]");
        stale.textContent = fill(say.stale, { date: found.date });
        stale.hidden = false;
        box.dataset.state = "stale";
      }
    } catch (e) {
      const why = e instanceof ProofError ? e.message : String(e && e.message ? e.message : e);
      status.textContent = fill(say.failed, { why });
      box.dataset.state = "failed";
      if (failed) {
        failed.querySelector("input[name=reason]").value = why.slice(0, 500);
        failed.querySelector("input[name=proof]").value = proof ? JSON.stringify(proof).slice(0, 60000) : "";
        failed.hidden = false;
      }
    } finally {
      box.dataset.ms = (performance.now() - started).toFixed(1);
    }
  }

  window.TGProof = { verifyProof, ProofError };
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.querySelector("[data-proof]");
    if (box) check(box);
  });
})();
