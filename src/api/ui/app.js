// SPDX-License-Identifier: MIT
// Prism dashboard: plain JavaScript over the public REST API (docs/api.md), no build step.
// Rules kept throughout: every value reaches the page as text (textContent through el(),
// never innerHTML); the API key stays in sessionStorage and travels only in the X-API-Key
// header, never in a URL; controls a key's role may not use are not drawn (the API
// enforces the roles anyway).
"use strict";

(() => {
  const KEY = "prism.apiKey";
  const RANK = { read: 1, write: 2, admin: 3 };
  const REFRESH_MS = 5000;
  const SEARCH_WINDOWS = 10; // a search page follows at most 10 windows of 100,000 ids
  let me = null; // {name, role}
  let timers = [];

  // ---- DOM helpers ----

  const $ = (sel, root = document) => root.querySelector(sel);

  /** Append children: nodes as they are, anything else as text; arrays flattened, null and
   *  false skipped. */
  function add(e, kids) {
    for (const c of kids.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  /** Replace the children of @p e (as add). */
  function fill(e, ...kids) {
    e.replaceChildren();
    return add(e, kids);
  }

  /** An element; attributes set as attributes (on* as listeners), children as text. */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = String(v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    return add(e, kids);
  }

  const link = (href, text, attrs) => el("a", { href, ...attrs }, text);
  const hostHref = (id) => "#/host/" + encodeURIComponent(id);
  const zoneHref = (z) => "#/zone/" + encodeURIComponent(z);

  function badge(text, kind) {
    return el("span", { class: "badge " + (kind || text || "") }, text == null ? "—" : text);
  }

  function table(headers, rows, empty) {
    const head = el("tr", null, headers.map((h) =>
      typeof h === "string" ? el("th", null, h) : el("th", { class: h.class }, h.text)));
    const body = el("tbody");
    for (const r of rows) body.append(r);
    if (rows.length === 0)
      body.append(el("tr", null, el("td", { class: "empty", colspan: headers.length },
        empty || "Nothing here.")));
    return el("table", null, el("thead", null, head), body);
  }

  const td = (v, cls) => el("td", { class: cls }, v == null ? "—" : v);
  const num = (v) => td(v == null ? null : Number(v).toLocaleString("en"), "num");

  function fmtTime(iso) {
    if (!iso) return "—";
    return el("span", { title: iso }, iso.replace("T", " ").replace("Z", " UTC"));
  }

  function fmtAge(s) {
    if (s == null) return "—";
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  function toast(text, bad) {
    const t = $("#toast");
    t.textContent = text;
    t.className = bad ? "bad" : "";
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  /** A destructive button: the first click arms it, the second (within 4 s) acts. */
  function dangerButton(label, action) {
    const b = el("button", { type: "button", class: "danger small" }, label);
    let armed = false;
    b.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        b.textContent = "Confirm " + label.toLowerCase();
        b.classList.add("armed");
        setTimeout(() => {
          armed = false;
          b.textContent = label;
          b.classList.remove("armed");
        }, 4000);
        return;
      }
      b.disabled = true;
      try {
        await action();
      } catch (e) {
        toast(e.message, true);
        b.disabled = false;
      }
    });
    return b;
  }

  function button(label, action, cls) {
    const b = el("button", { type: "button", class: cls || "secondary small" }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await action();
      } catch (e) {
        toast(e.message, true);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  /**
   * Keyset paging: @p cur.after is the cursor of the page shown, @p cur.stack those of the
   * pages before it. The buttons move by one page and call @p load again.
   */
  function pager(cur, next, load, labels = ["Previous", "Next"]) {
    const p = el("div", { class: "pager" },
      button(labels[0], async () => {
        cur.after = cur.stack.pop();
        await load();
        window.scrollTo(0, 0);
      }), button(labels[1], async () => {
        cur.stack.push(cur.after);
        cur.after = next;
        await load();
        window.scrollTo(0, 0);
      }));
    p.firstChild.disabled = cur.stack.length === 0;
    p.lastChild.disabled = !next;
    return p;
  }

  const can = (role) => me !== null && RANK[me.role] >= RANK[role];

  // ---- the API ----

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "" };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, "network", "prismd cannot be reached (" + e.message + ")");
    }
    const text = await r.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!r.ok) {
      const err = (data && data.error) || {};
      if (r.status === 401 && me !== null) {
        logout("The API key was refused: sign in again.");
      }
      throw new ApiError(r.status, err.code || "http_" + r.status,
        err.message || "HTTP " + r.status);
    }
    return data;
  }

  const q = (params) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params))
      if (v !== null && v !== undefined && v !== "") p.set(k, v);
    const s = p.toString();
    return s ? "?" + s : "";
  };

  // ---- forms and the API's validation errors ----

  /** A labelled field; its error line sits right under it. */
  function field(name, label, input, cls) {
    input.id = input.id || "f-" + name;
    input.name = name;
    return el("div", { class: "field " + (cls || ""), "data-field": name },
      el("label", { for: input.id }, label), input,
      el("p", { class: "field-error", "data-error-for": name }));
  }

  function clearErrors(form) {
    for (const f of form.querySelectorAll(".field.invalid")) f.classList.remove("invalid");
    for (const p of form.querySelectorAll(".field-error, .form-error")) p.textContent = "";
  }

  /**
   * Show an API error next to the field it names. The API's 422 messages start with the
   * field's path ("records[0].content[0]: not an IPv4 address"); its last name (content)
   * is the form field. Anything else goes under the form.
   */
  function showError(form, err) {
    const m = /^([A-Za-z_][\w.[\]]*): (.*)$/s.exec(err.message || "");
    if (m) {
      const names = m[1].replace(/\[\d+\]/g, "").split(".");
      for (let i = names.length - 1; i >= 0; i--) {
        const f = form.querySelector(`.field[data-field="${names[i]}"]`);
        if (f) {
          f.classList.add("invalid");
          $(".field-error", f).textContent = m[2];
          return;
        }
      }
    }
    $(".form-error", form).textContent = err.message;
  }

  // ---- views ----

  function every(ms, fn) {
    const id = setInterval(() => { fn().catch(() => {}); }, ms);
    timers.push(id);
  }

  function page(main, title, ...extra) {
    const root = el("div");
    main.append(el("div", { class: "spread" }, el("h1", null, title), el("div", { class: "row" },
      extra)), root);
    return root;
  }

  async function viewOverview(main) {
    const stamp = el("span", { class: "muted small" });
    const root = page(main, "Overview", stamp);
    const load = async () => {
      const [sum, tg, sync, audit, failed, conflict] = await Promise.all([
        api("GET", "/api/hosts/stats/summary"), api("GET", "/api/v1/targets"),
        api("GET", "/api/v1/sync"), api("GET", "/api/v1/audit?limit=10"),
        api("GET", "/api/v1/sync/rows?status=failed&limit=20"),
        api("GET", "/api/v1/sync/rows?status=conflict&limit=20")]);
      const t = sync.totals;
      const stat = (n, label, cls, href) => el("div", { class: "card stat " + (cls || "") },
        el("div", { class: "num" }, href ? link(href, Number(n).toLocaleString("en")) :
          Number(n).toLocaleString("en")), el("div", { class: "label" }, label));
      fill(root,
        el("div", { class: "grid", id: "overview-stats" },
          stat(sum.total_hosts, "hosts", "", "#/hosts"),
          stat(sum.online_hosts, "online", "", "#/hosts?status=online"),
          stat(sum.offline_hosts, "offline", "", "#/hosts?status=offline"),
          stat(t.pending, "records pending"), stat(t.failed, "records failed"),
          stat(t.conflict, "records in conflict")),
        el("div", { class: "card", id: "sync-problems" },
          el("h2", null, "Failed and in conflict"), problemTable(failed, conflict)),
        el("div", { class: "cols" },
          el("div", { class: "card" }, el("h2", null, "Targets"), targetSummary(tg.targets)),
          el("div", { class: "card" }, el("h2", null, "Recent changes"),
            auditTable(audit.entries, true))));
      stamp.textContent = "updated " + new Date().toLocaleTimeString() + " · every " +
        REFRESH_MS / 1000 + " s";
    };
    await load();
    every(REFRESH_MS, load);
  }

  function targetSummary(targets) {
    return table(["Target", "State", "Health", { text: "Pending", class: "num" },
      { text: "Failed", class: "num" }, { text: "Conflict", class: "num" },
      "Oldest pending", "Last push"],
    targets.map((t) => el("tr", { "data-target": t.name }, td(link("#/targets", t.name)),
      td(badge(t.state)), td(badge(t.health ? t.health.state : "unknown")),
      num(t.ledger.pending), num(t.ledger.failed), num(t.ledger.conflict),
      td(fmtAge(t.ledger.oldest_pending_seconds)), td(fmtTime(t.last_success)))),
    "No DNS target is configured.");
  }

  /** The record sets a target refuses or a foreign RRset holds, with the reason. */
  function problemTable(failed, conflict) {
    const rows = failed.rows.concat(conflict.rows);
    const more = failed.truncated || conflict.truncated;
    return [table(["Target", "Name", "Type", "Status", { text: "Attempts", class: "num" },
      "Why", "Host"], rows.map((r) => el("tr", { "data-problem": r.name + " " + r.type },
      td(r.target), td(r.name, "wrap"), td(r.type), td(badge(r.status)), num(r.attempts),
      td(r.last_error ? el("span", { class: "error-text" }, r.last_error) :
        r.status === "conflict" ? "a record set Prism does not own holds the name" : null),
      td(r.host_id == null ? null : link(hostHref(r.host_id), "#" + r.host_id)))),
    "Nothing failed, nothing in conflict."),
    more ? el("p", { class: "muted small" }, "The first 20 of each; GET /api/v1/sync/rows " +
      "lists more.") : null];
  }

  function auditTable(entries, short) {
    return table(short ? ["When", "Who", "What", "Object"]
      : ["When", "Who", "What", "Object", "Before", "After"],
    entries.map((e) => el("tr", null, td(fmtTime(e.at)), td(e.actor), td(el("code", null,
      e.action)), td(e.object, "wrap"), short ? null : td(jsonText(e.before), "wrap mono small"),
      short ? null : td(jsonText(e.after), "wrap mono small"))),
    "No change has been made through the API yet.");
  }

  const jsonText = (v) => (v == null ? "—" : JSON.stringify(v));

  // -- hosts --

  /** One page of hosts; a search follows `next` until the page is full (bounded). */
  async function hostPage(limit, after, search, status) {
    let hosts = [];
    let next = after || null;
    let calls = 0;
    do {
      const d = await api("GET", "/api/v1/hosts" + q({ limit: limit - hosts.length,
        after: next, search, status }));
      hosts = hosts.concat(d.hosts);
      next = d.next;
      calls++;
    } while (search && next && hosts.length < limit && calls < SEARCH_WINDOWS);
    return { hosts, next };
  }

  async function viewHosts(main, _arg, params) {
    const search = params.get("search") || "";
    const status = params.get("status") || "";
    const limit = Number(params.get("limit")) || 50;
    const root = page(main, "Hosts");
    const input = el("input", { type: "search", id: "host-search", placeholder:
      "hostname contains…", value: search, "aria-label": "Search hostnames" });
    const sel = el("select", { id: "host-status", "aria-label": "Status" },
      ["", "online", "offline"].map((s) => el("option", { value: s, selected: s === status },
        s || "any status")));
    const go = () => navigate("#/hosts" + q({ search: input.value.trim(), status: sel.value }));
    const form = el("form", { class: "row", id: "host-filter", onsubmit: (e) => {
      e.preventDefault();
      go();
    } }, input, sel, el("button", { type: "submit" }, "Search"));
    sel.addEventListener("change", go);
    const body = el("div", { id: "hosts-table" });
    const pages = el("div");
    root.append(el("div", { class: "card" }, el("div", { class: "spread" }, form,
      el("span", { class: "muted small", id: "host-count" })), body, pages));
    const cur = { after: null, stack: [] };
    const load = async () => {
      const t0 = performance.now();
      const d = await hostPage(limit, cur.after, search, status);
      const ms = Math.round(performance.now() - t0);
      fill(body, table(["Hostname", "Address", "IPv6", "Status", "Source", "DNS",
        "Last seen"], d.hosts.map((h) => el("tr", { "data-host": h.hostname },
        td(link(hostHref(h.id), h.hostname)), td(h.ipv4 || h.current_ip, "mono"),
        td(h.ipv6, "mono"), td(badge(h.status)), td(h.source), td(badge(h.dns_sync_status)),
        td(fmtTime(h.last_seen)))), search && d.next ? "No match in this part of the " +
        "registry: press Next to search further." : "No host matches."));
      $("#host-count").textContent = (cur.stack.length ? "page " + (cur.stack.length + 1) +
        " · " : "") + d.hosts.length + " shown · " + ms + " ms";
      fill(pages, pager(cur, d.next, load));
    };
    await load();
  }

  async function viewHost(main, id) {
    const h = await api("GET", "/api/v1/hosts/" + encodeURIComponent(id));
    const actions = [];
    if (can("admin") && h.bound)
      actions.push(dangerButton("Release name", async () => {
        await api("POST", "/api/v1/hosts/" + h.id + "/release");
        toast(h.hostname + " released");
        render();
      }));
    if (can("write"))
      actions.push(dangerButton("Delete host", async () => {
        await api("DELETE", "/api/v1/hosts/" + h.id);
        toast(h.hostname + " deleted");
        location.hash = "#/hosts";
      }));
    const root = page(main, "Host " + h.hostname, actions);
    const kv = (pairs) => el("dl", { class: "kv" }, pairs.map(([k, v]) =>
      [el("dt", null, k), el("dd", null, v == null || v === "" ? "—" : v)]));
    const errors = h.sync.filter((s) => s.last_error);
    root.append(
      el("div", { class: "cols" },
        el("div", { class: "card" }, el("h2", null, "Host"), kv([
          ["id", h.id], ["hostname", h.hostname], ["status", badge(h.status)],
          ["source", h.source], ["IPv4", h.ipv4], ["IPv6", h.ipv6],
          ["first seen", fmtTime(h.first_seen)], ["last seen", fmtTime(h.last_seen)],
          ["bound to a token", h.bound ? "yes" : "no"]])),
        el("div", { class: "card" }, el("h2", null, "DNS"), kv([
          ["zone", h.dns_zone ? link(zoneHref(h.dns_zone), h.dns_zone) : null],
          ["name", h.dns_name], ["TTL", h.dns_ttl], ["sync", badge(h.dns_sync_status)],
          ["last sync", fmtTime(h.dns_last_sync)],
          ["last error", errors.length ? el("span", { class: "error-text" },
            errors[0].last_error) : null]]))),
      el("div", { class: "card" }, el("h2", null, "Records"),
        table(["Zone", "Name", "Type", { text: "TTL", class: "num" }, "Content"],
          (h.records || []).map((r) => el("tr", null, td(r.zone), td(r.name), td(r.type),
            num(r.ttl), td(r.content.join("\n"), "mono wrap"))), "This host has no records.")),
      el("div", { class: "card" }, el("h2", null, "On each target"),
        table(["Target", "Zone", "Name", "Type", "Status", { text: "Attempts", class: "num" },
          "Last error", "Updated"], h.sync.map((s) => el("tr", null, td(s.target),
          td(s.zone), td(s.name), td(s.type), td(badge(s.status)), num(s.attempts),
          td(s.last_error ? el("span", { class: "error-text" }, s.last_error) : null),
          td(fmtTime(s.updated_at)))), "No target serves this host's zone.")));
  }

  // -- targets --

  async function viewTargets(main) {
    const actions = [];
    if (can("write"))
      actions.push(button("Retry failed records", async () => {
        const r = await api("POST", "/api/v1/sync/retry", {});
        toast(r.retried + " failed records are due again");
      }, "secondary"));
    const root = page(main, "Targets", actions);
    const list = el("div", { class: "card", id: "targets-table" });
    const cluster = el("div", { class: "card" }, el("h2", null, "Zones on each target"),
      el("p", { class: "muted" }, "Asking every target for its zones…"));
    root.append(list, cluster);
    const load = async () => {
      const d = await api("GET", "/api/v1/targets");
      fill(list, table(["Target", "State", "Health", "Zones missing / extra",
        { text: "Pending", class: "num" }, { text: "Failed", class: "num" },
        { text: "Conflict", class: "num" }, "Oldest pending", "Requests (failed)",
        "Last push", ""], d.targets.map(targetRow), "No DNS target is configured."));
    };
    await load();
    every(REFRESH_MS, load);
    loadCluster(cluster).catch((e) => cluster.append(el("p", { class: "error-text" },
      e.message)));
  }

  function targetRow(t) {
    const hl = t.health || {};
    const acts = [];
    if (can("admin")) {
      const paused = t.state === "paused";
      acts.push(button(paused ? "Resume" : "Pause", async () => {
        await api("POST", `/api/v1/targets/${encodeURIComponent(t.name)}/` +
          (paused ? "resume" : "pause"), {});
        toast(t.name + (paused ? " resumed" : " paused"));
        render();
      }), " ", button("Resync", async () => {
        const r = await api("POST", `/api/v1/targets/${encodeURIComponent(t.name)}/resync`,
          {});
        toast(`${t.name}: ${r.rrsets} record sets pending again`);
      }));
    }
    return el("tr", { "data-target": t.name }, td(el("strong", null, t.name)),
      td(badge(t.state)),
      td([badge(hl.state || "unknown"), hl.reason ? el("div", { class: "small muted" },
        hl.reason) : null]),
      td(hl.zones_missing == null ? "—" : `${hl.zones_missing} / ${hl.zones_extra}`),
      num(t.ledger.pending), num(t.ledger.failed), num(t.ledger.conflict),
      td(fmtAge(t.ledger.oldest_pending_seconds)),
      td(`${Number(t.requests).toLocaleString("en")} (${t.request_failures})`),
      td(fmtTime(t.last_success)), td(el("div", { class: "row" }, acts)));
  }

  async function loadCluster(card) {
    const d = await api("GET", "/api/v1/cluster");
    const blocks = d.targets.map((t) => {
      const missing = t.zones.filter((z) => z.state === "missing").map((z) => z.name);
      return el("div", { class: "spread", "data-cluster": t.name },
        el("div", null, el("strong", null, t.name), " ",
          t.reachable ? badge("reachable", "ok") : badge("unreachable", "failed"),
          t.error ? el("div", { class: "error-text small" }, t.error) : null,
          el("div", { class: "small" }, `${t.present} of ${t.managed} zones present`),
          missing.length ? el("div", { class: "small" }, "missing: ",
            missing.map((z, i) => [i ? ", " : "", link(zoneHref(z), z)])) : null,
          t.extra && t.extra.length ? el("div", { class: "small muted" },
            "extra (not managed here): " + t.extra.join(", ")) : null));
    });
    fill(card, el("h2", null, "Zones on each target"),
      blocks.length ? blocks : el("p", { class: "muted" }, "No target."));
  }

  // -- zones --

  async function viewZones(main) {
    const root = page(main, "Zones");
    const d = await api("GET", "/api/v1/zones");
    root.append(el("div", { class: "card", id: "zones-table" }, table(["Zone", "Kind",
      "Origin", "Targets", { text: "Record sets", class: "num" }, "Served by", "DNSSEC"],
    d.zones.map((z) => el("tr", { "data-zone": z.name }, td(link(zoneHref(z.name), z.name)),
      td(z.kind), td(z.origin), td(z.targets == null ? "all (config)" : z.targets),
      num(z.records), td((z.served_by || []).map((s) => [badge(s.target, s.ready ? "ok" :
        "pending"), " "])), td(z.dnssec ? "signed" : "no"))), "No zone yet.")));
  }

  const TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "PTR", "CAA"];

  async function viewZone(main, zone) {
    const z = await api("GET", "/api/v1/zones/" + encodeURIComponent(zone));
    const root = page(main, "Zone " + z.name);
    root.append(el("div", { class: "card" }, el("dl", { class: "kv" },
      [["kind", z.kind], ["origin", z.origin], ["nameservers", (z.nameservers || []).join(", ")],
        ["default TTL", z.ttl], ["served by", (z.served_by || []).map((s) => s.target)
          .join(", ") || "—"]].map(([k, v]) => [el("dt", null, k),
        el("dd", null, v == null ? "—" : v)]))));
    let form = null;
    if (can("write")) {
      form = recordForm(z.name, () => loadRecords());
      root.append(form);
    }
    const list = el("div", { class: "card", id: "records-table" });
    root.append(list);
    const cur = { after: null, stack: [] };
    const loadRecords = async () => {
      const d = await api("GET", `/api/v1/zones/${encodeURIComponent(z.name)}/records` +
        q({ limit: 100, after: cur.after }));
      fill(list, el("h2", null, "Records"), table(["Name", "Type",
        { text: "TTL", class: "num" }, "Content", ""], d.records.map((r) =>
        recordRow(z.name, r, form, loadRecords)), "No records yet."),
      pager(cur, d.next, loadRecords));
    };
    await loadRecords();
  }

  function recordRow(zone, r, form, reload) {
    const acts = [];
    if (r.host_id != null) {
      acts.push(link(hostHref(r.host_id), "host #" + r.host_id));
    } else if (form !== null) {
      acts.push(button("Edit", async () => form.fill(r)), " ",
        dangerButton("Delete", async () => {
          await api("DELETE", `/api/v1/zones/${encodeURIComponent(zone)}/records/` +
            `${encodeURIComponent(r.name)}/${encodeURIComponent(r.type)}`);
          toast(`${r.name} ${r.type} deleted`);
          await reload();
        }));
    }
    return el("tr", { "data-record": r.name + " " + r.type }, td(r.name, "wrap"), td(r.type),
      num(r.ttl), td(el("div", { class: "mono wrap" }, r.content.map((c) =>
        el("div", null, c)))), td(el("div", { class: "row" }, acts)));
  }

  function recordForm(zone, reload) {
    const name = el("input", { placeholder: "www, @ or a full name", autocomplete: "off" });
    const type = el("select", null, TYPES.map((t) => el("option", { value: t }, t)));
    const ttl = el("input", { type: "number", min: 1, placeholder: "zone default" });
    const content = el("textarea", { placeholder: "one record a line, e.g. 192.0.2.10" });
    const form = el("form", { class: "card", id: "record-form", novalidate: true },
      el("h2", null, "Add or replace a record set"),
      el("div", { class: "form" }, field("name", "Name", name), field("type", "Type", type),
        field("ttl", "TTL (seconds)", ttl), field("content", "Content", content, "wide")),
      el("p", { class: "form-error", role: "alert" }),
      el("div", { class: "row" }, el("button", { type: "submit" }, "Save record set"),
        el("button", { type: "reset", class: "secondary" }, "Clear")));
    form.addEventListener("reset", () => clearErrors(form));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      const rr = { name: name.value.trim(), type: type.value,
        content: content.value.split("\n").map((s) => s.trim()).filter((s) => s !== "") };
      if (ttl.value !== "") rr.ttl = Number(ttl.value);
      const b = $("button[type=submit]", form);
      b.disabled = true;
      try {
        await api("POST", `/api/v1/zones/${encodeURIComponent(zone)}/records`,
          { records: [rr] });
        toast(`${rr.name} ${rr.type} saved`);
        form.reset();
        await reload();
      } catch (err) {
        showError(form, err);
      } finally {
        b.disabled = false;
      }
    });
    form.fill = (r) => {
      clearErrors(form);
      name.value = r.name;
      type.value = r.type;
      ttl.value = r.ttl;
      content.value = r.content.join("\n");
      name.focus();
    };
    return form;
  }

  // -- repoint --

  async function viewRepoint(main) {
    const root = page(main, "Repoint");
    const from = el("input", { placeholder: "192.0.2.1" });
    const to = el("input", { placeholder: "192.0.2.2" });
    const zones = el("input", { placeholder: "all zones, or: example.com, example.net" });
    const pattern = el("input", { placeholder: "any name, or e.g. web*" });
    const preview = el("div", { id: "repoint-preview" });
    const form = el("form", { class: "card", id: "repoint-form", novalidate: true },
      el("p", { class: "muted" }, "Moves every A/AAAA record whose address is 'from' to " +
        "'to', host records included, in one transaction. The dry run comes first."),
      el("div", { class: "form" }, field("from", "From address", from),
        field("to", "To address", to), field("zones", "Zones", zones),
        field("name_pattern", "Name pattern", pattern)),
      el("p", { class: "form-error", role: "alert" }),
      el("div", { class: "row" }, el("button", { type: "submit" }, "Preview (dry run)")));
    const body = (dry) => {
      const b = { from: from.value.trim(), to: to.value.trim(), dry_run: dry };
      const zl = zones.value.split(",").map((s) => s.trim()).filter((s) => s);
      if (zl.length) b.zones = zl;
      if (pattern.value.trim()) b.name_pattern = pattern.value.trim();
      return b;
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      fill(preview);
      const req = body(true);
      try {
        const d = await api("POST", "/api/v1/repoint", req);
        const apply = el("button", { type: "button", id: "repoint-apply" },
          `Apply: move ${d.count} record sets`);
        apply.disabled = d.count === 0;
        apply.addEventListener("click", async () => {
          apply.disabled = true;
          try {
            const r = await api("POST", "/api/v1/repoint", { ...req, dry_run: false });
            fill(preview, el("div", { class: "card" }, el("h2", null,
              `Moved ${r.count} record sets (${r.hosts} hosts)`)));
          } catch (err) {
            showError(form, err);
          }
        });
        fill(preview, el("div", { class: "card" },
          el("div", { class: "spread" }, el("h2", null, `Dry run: ${d.count} record sets, ` +
            `${d.hosts} hosts, ${d.from} → ${d.to}`), apply),
          table(["Zone", "Name", "Type", "Host"], d.changes.map((c) => el("tr", null,
            td(c.zone), td(c.name), td(c.type), td(c.host_id == null ? null :
              link(hostHref(c.host_id), "#" + c.host_id)))), "Nothing would change.")));
      } catch (err) {
        showError(form, err);
      }
    });
    root.append(form, preview);
  }

  // -- tokens and keys --

  /** A form of @p fields and a submit button; what @p submit throws goes to its field. */
  function createForm(fields, label, submit) {
    const form = el("form", { class: "form", novalidate: true }, fields,
      el("div", null, el("label", null, " "), el("button", { type: "submit" }, label)),
      el("p", { class: "form-error wide", role: "alert" }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      try {
        await submit();
      } catch (err) {
        showError(form, err);
      }
    });
    return form;
  }

  function secretBox(what, secret) {
    return el("div", { class: "secret", id: "secret" }, el("strong", null,
      `The new ${what}. It is shown only now: copy it.`), el("code", null, secret));
  }

  async function viewAccess(main) {
    const root = page(main, "Tokens and keys");
    const tokens = el("div", { class: "card", id: "tokens" });
    const keys = el("div", { class: "card", id: "keys" });
    root.append(tokens, keys);
    const loadTokens = async (secret) => {
      const d = await api("GET", "/api/v1/tokens?limit=1000");
      const name = el("input", { placeholder: "rack7", autocomplete: "off" });
      const exp = el("input", { type: "datetime-local" });
      const form = createForm([field("name", "Name", name),
        field("expires_at", "Expires (optional, UTC)", exp)], "Create token", async () => {
        const b = { name: name.value.trim() };
        if (exp.value) b.expires_at = exp.value + (exp.value.length === 16 ? ":00Z" : "Z");
        const r = await api("POST", "/api/v1/tokens", b);
        await loadTokens(secretBox("agent token '" + r.name + "'", r.token));
      });
      fill(tokens, el("h2", null, "Agent tokens"), form, secret || null,
        table(["Name", "Created", "Expires", "State", ""], d.tokens.map((t) => el("tr",
          { "data-token": t.name }, td(t.name), td(fmtTime(t.created_at)),
          td(fmtTime(t.expires_at)), td(badge(t.active ? (t.expired ? "expired" : "active") :
            "revoked", t.active && !t.expired ? "ok" : "")),
          td(t.active ? dangerButton("Revoke", async () => {
            await api("DELETE", "/api/v1/tokens/" + encodeURIComponent(t.name));
            toast(`token ${t.name} revoked`);
            await loadTokens();
          }) : null))), "No agent token in the registry."));
    };
    const loadKeys = async (secret) => {
      const d = await api("GET", "/api/v1/keys?limit=1000");
      const name = el("input", { placeholder: "grafana", autocomplete: "off" });
      const role = el("select", null, ["read", "write", "admin"].map((r) =>
        el("option", { value: r }, r)));
      const form = createForm([field("name", "Name", name), field("role", "Role", role)],
        "Create key", async () => {
          const r = await api("POST", "/api/v1/keys", { name: name.value.trim(),
            role: role.value });
          await loadKeys(secretBox(`${r.role} API key '${r.name}'`, r.key));
        });
      fill(keys, el("h2", null, "API keys"), form, secret || null,
        table(["Name", "Role", "Source", "Created", ""], d.keys.map((k) => el("tr",
          { "data-key": k.name }, td(k.name), td(badge(k.role)), td(k.source),
          td(fmtTime(k.created_at)), td(k.source === "api" && k.active ?
            dangerButton("Revoke", async () => {
              await api("DELETE", "/api/v1/keys/" + encodeURIComponent(k.name));
              toast(`key ${k.name} revoked`);
              await loadKeys();
            }) : k.active ? null : badge("revoked", "")))), "No API key."));
    };
    await Promise.all([loadTokens(), loadKeys()]);
  }

  // -- audit --

  async function viewAudit(main) {
    const root = page(main, "Audit log");
    const card = el("div", { class: "card", id: "audit-table" });
    root.append(card);
    const cur = { after: null, stack: [] };
    const load = async () => {
      const d = await api("GET", "/api/v1/audit" + q({ limit: 50, after: cur.after }));
      fill(card, auditTable(d.entries, false), pager(cur, d.next, load, ["Newer", "Older"]));
    };
    await load();
  }

  // ---- routing, login, logout ----

  const VIEWS = {
    overview: viewOverview, hosts: viewHosts, host: viewHost, targets: viewTargets,
    zones: viewZones, zone: viewZone, repoint: viewRepoint, access: viewAccess,
    audit: viewAudit,
  };
  const VIEW_ROLE = { repoint: "write", access: "admin" };

  function route() {
    const h = location.hash.replace(/^#\/?/, "");
    const [path, query] = h.split("?");
    const parts = path.split("/");
    const name = VIEWS[parts[0]] ? parts[0] : "overview";
    return { name, arg: parts[1] ? decodeURIComponent(parts[1]) : null,
      params: new URLSearchParams(query || "") };
  }

  /** Go to @p hash; the same hash again renders the view again (a repeated search). */
  function navigate(hash) {
    if (location.hash === hash) render();
    else location.hash = hash;
  }

  async function render() {
    window.scrollTo(0, 0);
    for (const t of timers) clearInterval(t);
    timers = [];
    if (me === null) return;
    const { name, arg, params } = route();
    for (const a of document.querySelectorAll("#nav a"))
      a.classList.toggle("active", a.dataset.view === name ||
        (a.dataset.view + "s" === name) || (name === "host" && a.dataset.view === "hosts") ||
        (name === "zone" && a.dataset.view === "zones"));
    const main = $("#view");
    fill(main);
    main.dataset.view = name;
    if (VIEW_ROLE[name] && !can(VIEW_ROLE[name])) {
      main.append(el("div", { class: "card", id: "view-error" }, el("h2", null,
        "Not for this key"), el("p", null, `This page needs the ${VIEW_ROLE[name]} role; ` +
        `the key '${me.name}' has ${me.role}.`)));
      return;
    }
    try {
      await VIEWS[name](main, arg, params);
    } catch (e) {
      if (me !== null)
        main.append(el("div", { class: "card", id: "view-error" }, el("h2", null,
          "This page could not be loaded"), el("p", { class: "error-text" }, e.message)));
    }
  }

  function showApp() {
    $("#login").hidden = true;
    $("#top").hidden = false;
    $("#view").hidden = false;
    $("#who-name").textContent = me.name;
    const r = $("#who-role");
    r.textContent = me.role;
    r.className = "badge " + me.role;
    for (const a of document.querySelectorAll("#nav a[data-role]"))
      a.hidden = !can(a.dataset.role);
    render();
  }

  function showLogin(message) {
    $("#top").hidden = true;
    $("#view").hidden = true;
    fill($("#view"));
    $("#login").hidden = false;
    $("#login-error").textContent = message || "";
    $("#login-key").value = "";
    $("#login-key").focus();
  }

  function logout(message) {
    sessionStorage.removeItem(KEY);
    me = null;
    for (const t of timers) clearInterval(t);
    timers = [];
    showLogin(message);
  }

  /** Sign in with the stored key: null, or the error (the key is then forgotten). */
  async function signIn() {
    try {
      me = await api("GET", "/api/v1/whoami");
      showApp();
      return null;
    } catch (err) {
      sessionStorage.removeItem(KEY);
      me = null;
      return err;
    }
  }

  async function login(e) {
    e.preventDefault();
    const key = $("#login-key").value.trim();
    if (!/^[\x21-\x7e]+$/.test(key)) {
      $("#login-error").textContent = "An API key is printable ASCII without spaces.";
      return;
    }
    $("#login-submit").disabled = true;
    sessionStorage.setItem(KEY, key);
    const err = await signIn();
    $("#login-submit").disabled = false;
    if (err !== null)
      $("#login-error").textContent = err.status === 401 ? "This API key is not valid." :
        err.message;
  }

  async function start() {
    $("#login-form").addEventListener("submit", login);
    $("#logout").addEventListener("click", () => logout(""));
    window.addEventListener("hashchange", render);
    if (!sessionStorage.getItem(KEY)) {
      showLogin("");
      return;
    }
    const err = await signIn();
    if (err !== null) showLogin(err.status === 401 ? "" : err.message);
  }

  start();
})();
