// Beacon dashboard: fetches the /v1 reports with the admin token and draws every chart as
// plain SVG. No libraries and no CDN, so the page works offline and under a strict CSP.
// All text from the API goes in with textContent/text nodes, never as HTML: search queries,
// error types and entity names come from events and are untrusted.
"use strict";

(() => {
  const SVGNS = "http://www.w3.org/2000/svg";
  const TOKEN_KEY = "beacon.adminToken";
  const REFRESH_MS = 60000;
  const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#64748b"];
  const $ = (id) => document.getElementById(id);
  let timer = null;

  // ---- DOM helpers --------------------------------------------------------------------------
  function fill(node, attrs, children) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "object" ? child : String(child));
    }
    return node;
  }
  const h = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
  const s = (tag, attrs, ...children) => fill(document.createElementNS(SVGNS, tag), attrs, children);
  function put(id, ...nodes) {
    const target = $(id);
    target.replaceChildren(...nodes);
  }
  const empty = (text) => h("p", { class: "empty" }, text || "No data in this range yet.");

  // ---- formatting ---------------------------------------------------------------------------
  const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US",
    { maximumFractionDigits: Math.abs(v) < 10 ? 2 : 0 }));
  const money = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US",
    { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
  const shortDate = (iso) => iso.slice(5, 10);
  const hourLabel = (iso) => iso.slice(11, 13) + "h";

  // ---- charts -------------------------------------------------------------------------------
  // A line over points [{label, value}], zero-based, labelled at both ends.
  function lineChart(points, { width = 600, height = 160, color = COLORS[0], format = num } = {}) {
    if (!points.length) return empty();
    const m = { top: 10, right: 8, bottom: 18, left: 44 };
    const w = width - m.left - m.right;
    const ht = height - m.top - m.bottom;
    const values = points.map((p) => Number(p.value) || 0);
    const max = Math.max(...values) || 1;
    const x = (i) => m.left + (points.length === 1 ? w / 2 : (i * w) / (points.length - 1));
    const y = (v) => m.top + ht - (v / max) * ht;
    const line = values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    const area = `${line.join("")}L${x(values.length - 1)},${y(0)}L${x(0)},${y(0)}Z`;
    const dots = values.map((v, i) => s("circle", {
      cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: points.length > 60 ? 1.2 : 2.5, fill: color,
      "data-value": v,
    }, s("title", {}, `${points[i].label}: ${format(v)}`)));
    return s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart" },
      s("line", { x1: m.left, x2: width - m.right, y1: y(0), y2: y(0), stroke: "#e3e6eb" }),
      s("line", { x1: m.left, x2: width - m.right, y1: y(max), y2: y(max), stroke: "#f0f1f4" }),
      s("text", { x: m.left - 4, y: y(max) + 4, "text-anchor": "end" }, format(max)),
      s("text", { x: m.left - 4, y: y(0) + 4, "text-anchor": "end" }, format(0)),
      s("path", { d: area, fill: color, "fill-opacity": 0.08 }),
      s("path", { d: line.join(""), fill: "none", stroke: color, "stroke-width": 2 }),
      dots,
      s("text", { x: m.left, y: height - 4 }, points[0].label),
      s("text", { x: width - m.right, y: height - 4, "text-anchor": "end" },
        points[points.length - 1].label));
  }

  // Vertical bars over points [{label, value}].
  function barChart(points, { width = 420, height = 150, color = COLORS[0], format = num } = {}) {
    if (!points.length) return empty();
    const m = { top: 10, right: 8, bottom: 18, left: 44 };
    const w = width - m.left - m.right;
    const ht = height - m.top - m.bottom;
    const max = Math.max(...points.map((p) => Number(p.value) || 0)) || 1;
    const step = w / points.length;
    const bars = points.map((p, i) => {
      const v = Math.max(0, Number(p.value) || 0);
      const bh = (v / max) * ht;
      return s("rect", {
        x: (m.left + i * step + step * 0.1).toFixed(1), y: (m.top + ht - bh).toFixed(1),
        width: Math.max(1, step * 0.8).toFixed(1), height: bh.toFixed(1), fill: color, rx: 1,
        "data-value": v,
      }, s("title", {}, `${p.label}: ${format(v)}`));
    });
    return s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart" },
      s("line", { x1: m.left, x2: width - m.right, y1: m.top + ht, y2: m.top + ht, stroke: "#e3e6eb" }),
      s("text", { x: m.left - 4, y: m.top + 4, "text-anchor": "end" }, format(max)),
      s("text", { x: m.left - 4, y: m.top + ht + 4, "text-anchor": "end" }, format(0)),
      bars,
      s("text", { x: m.left, y: height - 4 }, points[0].label),
      s("text", { x: width - m.right, y: height - 4, "text-anchor": "end" },
        points[points.length - 1].label));
  }

  // Horizontal bars, one row per item [{label, value, note}], for rankings and comparisons.
  function hbars(rows, { width = 420, color = COLORS[0], format = num, labelWidth = 150 } = {}) {
    if (!rows.length) return empty();
    const rowHeight = 24;
    const max = Math.max(...rows.map((r) => Number(r.value) || 0)) || 1;
    const barSpace = width - labelWidth - 100;
    const items = rows.map((r, i) => {
      const v = Math.max(0, Number(r.value) || 0);
      const y = i * rowHeight;
      return s("g", {},
        s("text", { x: labelWidth - 6, y: y + 16, "text-anchor": "end" }, truncate(r.label, 24)),
        s("rect", {
          x: labelWidth, y: y + 4, height: rowHeight - 8, rx: 2,
          width: Math.max(1, (v / max) * barSpace).toFixed(1), fill: r.color || color,
          "data-value": v,
        }, s("title", {}, `${r.label}: ${format(v)}`)),
        s("text", { x: labelWidth + (v / max) * barSpace + 6, y: y + 16, class: "value" },
          r.note !== undefined ? r.note : format(v)));
    });
    return s("svg", { viewBox: `0 0 ${width} ${rows.length * rowHeight}`, role: "img" }, items);
  }

  const truncate = (text, n) => (String(text).length > n ? String(text).slice(0, n - 1) + "…" : String(text));

  function table(columns, rows) {
    return h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)))),
      h("tbody", {}, rows.map((r) => h("tr", {},
        columns.map((c) => h("td", { class: c.num ? "num" : null }, c.format(r)))))));
  }

  // Retention heat map: one row per cohort, one cell per period, darker for higher retention.
  function heatmap(cohorts, periods, unit) {
    if (!cohorts.length) return empty();
    const cell = 44, rowHeight = 24, left = 96, top = 20;
    const width = left + periods * cell;
    const shade = (r) => `rgb(${Math.round(239 - 202 * r)},${Math.round(246 - 147 * r)},${Math.round(255 - 20 * r)})`;
    const header = Array.from({ length: periods }, (_, i) =>
      s("text", { x: left + i * cell + cell / 2, y: 14, "text-anchor": "middle" }, `${unit}${i}`));
    const rows = cohorts.map((c, row) => {
      const y = top + row * rowHeight;
      return s("g", {},
        s("text", { x: left - 6, y: y + 16, "text-anchor": "end" },
          `${shortDate(c.cohort_start)} (${num(c.cohort_users)})`),
        c.retention.map((r, i) => r === null ? null : s("g", {},
          s("rect", { x: left + i * cell + 1, y: y + 1, width: cell - 2, height: rowHeight - 2,
            rx: 3, fill: shade(r), "data-value": r }, s("title", {}, `${c.cohort_start} ${unit}${i}: ${pct(r)}`)),
          s("text", { x: left + i * cell + cell / 2, y: y + 16, "text-anchor": "middle",
            class: r > 0.5 ? "on-dark" : null }, Math.round(100 * r) + "%"))));
    });
    return s("svg", { viewBox: `0 0 ${width} ${top + cohorts.length * rowHeight}`, role: "img" }, header, rows);
  }

  // Sankey of lifecycle flows: stages users came from on the left, stages they entered on the
  // right, each band as wide as the users it carries.
  function sankey(flows) {
    if (!flows.length) return empty();
    const width = 420, gap = 10, nodeWidth = 12, labelRoom = 100;
    const total = flows.reduce((sum, f) => sum + f.users, 0) || 1;
    const sides = { from: new Map(), to: new Map() };
    for (const f of flows) {
      sides.from.set(f.from, (sides.from.get(f.from) || 0) + f.users);
      sides.to.set(f.to, (sides.to.get(f.to) || 0) + f.users);
    }
    const count = Math.max(sides.from.size, sides.to.size);
    const height = Math.max(160, 40 * count);
    const scale = (height - gap * (count - 1)) / total;
    // A thin stage (a handful of users) still gets a label's height of room, so that the
    // labels of neighbouring thin stages do not print over each other.
    const labelHeight = 14;
    let bottom = height;
    const place = (map) => {
      const out = new Map();
      let y = 0;
      for (const [name, users] of [...map.entries()].sort((a, b) => b[1] - a[1])) {
        out.set(name, { y, height: users * scale, users, used: 0 });
        y += Math.max(users * scale, labelHeight) + gap;
      }
      bottom = Math.max(bottom, y - gap);
      return out;
    };
    const left = place(sides.from), right = place(sides.to);
    const x0 = labelRoom + nodeWidth, x1 = width - labelRoom - nodeWidth;
    const stageColor = (name) => COLORS[["new", "lead", "activated", "customer", "churned"].indexOf(name) + 1] || COLORS[6];
    const bands = [...flows].sort((a, b) => b.users - a.users).map((f) => {
      const a = left.get(f.from), b = right.get(f.to);
      const thickness = f.users * scale;
      const ya = a.y + a.used + thickness / 2, yb = b.y + b.used + thickness / 2;
      a.used += thickness; b.used += thickness;
      const mid = (x0 + x1) / 2;
      return s("path", {
        d: `M${x0},${ya.toFixed(1)}C${mid},${ya.toFixed(1)} ${mid},${yb.toFixed(1)} ${x1},${yb.toFixed(1)}`,
        fill: "none", stroke: stageColor(f.to), "stroke-opacity": 0.35,
        "stroke-width": Math.max(1, thickness).toFixed(1), "data-value": f.users,
      }, s("title", {}, `${f.from} → ${f.to}: ${num(f.users)}`));
    });
    const nodes = (map, x, anchor, labelX) => [...map.entries()].map(([name, n]) => s("g", {},
      s("rect", { x, y: n.y.toFixed(1), width: nodeWidth, height: Math.max(1, n.height).toFixed(1),
        fill: stageColor(name), "data-value": n.users }),
      s("text", { x: labelX, y: (n.y + n.height / 2 + 4).toFixed(1), "text-anchor": anchor, class: "value" },
        `${name} ${num(n.users)}`)));
    return s("svg", { viewBox: `0 0 ${width} ${bottom.toFixed(0)}`, role: "img" },
      bands, nodes(left, labelRoom, "end", labelRoom - 6), nodes(right, x1, "start", x1 + nodeWidth + 6));
  }

  // Several lines over shared buckets: series [{key, points: [{t, value}]}], zero-based.
  function multiLine(series, { width = 900, height = 220, format = num, label = shortDate } = {}) {
    const buckets = series.length ? series[0].points : [];
    if (!buckets.length) return empty("No events match this question in this range.");
    const m = { top: 10, right: 8, bottom: 18, left: 52 };
    const w = width - m.left - m.right;
    const ht = height - m.top - m.bottom;
    const max = Math.max(...series.flatMap((one) => one.points.map((p) => Number(p.value) || 0))) || 1;
    const x = (i) => m.left + (buckets.length === 1 ? w / 2 : (i * w) / (buckets.length - 1));
    const y = (v) => m.top + ht - (v / max) * ht;
    const lines = series.map((one, index) => {
      const color = COLORS[index % COLORS.length];
      // A bucket without a value (a mean of no events) breaks the line rather than reading 0.
      let pen = "M";
      const path = one.points.map((p, i) => {
        if (p.value === null) { pen = "M"; return ""; }
        const step = `${pen}${x(i).toFixed(1)},${y(Number(p.value)).toFixed(1)}`;
        pen = "L";
        return step;
      }).join("");
      const dots = one.points.map((p, i) => p.value === null ? null : s("circle", {
        cx: x(i).toFixed(1), cy: y(Number(p.value)).toFixed(1), r: buckets.length > 60 ? 1.2 : 2.5,
        fill: color, "data-value": p.value,
      }, s("title", {}, `${seriesName(one)} ${p.t}: ${format(p.value)}`)));
      return s("g", {}, s("path", { d: path, fill: "none", stroke: color, "stroke-width": 2 }), dots);
    });
    return s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart" },
      s("line", { x1: m.left, x2: width - m.right, y1: y(0), y2: y(0), stroke: "#e3e6eb" }),
      s("line", { x1: m.left, x2: width - m.right, y1: y(max), y2: y(max), stroke: "#f0f1f4" }),
      s("text", { x: m.left - 4, y: y(max) + 4, "text-anchor": "end" }, format(max)),
      s("text", { x: m.left - 4, y: y(0) + 4, "text-anchor": "end" }, format(0)),
      lines,
      s("text", { x: m.left, y: height - 4 }, label(buckets[0].t)),
      s("text", { x: width - m.right, y: height - 4, "text-anchor": "end" },
        label(buckets[buckets.length - 1].t)));
  }

  const seriesName = (one) => (one.other ? "other" : one.key === null ? "(none)" : String(one.key));

  // ---- API ----------------------------------------------------------------------------------
  class AuthError extends Error {}

  async function api(path) {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY) || ""}` } });
    if (response.status === 401 || response.status === 403) throw new AuthError("token refused");
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    return body;
  }

  // ---- panels -------------------------------------------------------------------------------
  function drawRealtime(rt, hourly) {
    const series = (key) => hourly.hours.map((r) => ({ label: hourLabel(r.hour), value: r[key] || 0 }));
    const tile = (label, value, key, color, format) => h("div", { class: "tile" },
      h("div", { class: "label" }, label), h("div", { class: "number" }, value),
      lineChart(series(key), { width: 300, height: 70, color, format }));
    put("tiles",
      tile("Active users", num(rt.active_users), "active_users", COLORS[0], num),
      tile("Events", num(rt.events), "events", COLORS[1], num),
      tile("Revenue", money(rt.revenue), "revenue", COLORS[2], money),
      tile("Error rate", pct(rt.error_rate), "error_rate", COLORS[4], pct));
  }

  function drawKpis(body) {
    const metrics = [
      ["Events", "events", num, COLORS[0]], ["Active users", "active_users", num, COLORS[1]],
      ["New users", "new_users", num, COLORS[3]], ["Revenue", "revenue", money, COLORS[2]],
      ["Error rate", "error_rate", pct, COLORS[4]], ["Conversion", "conversion_rate", pct, COLORS[5]],
    ];
    const totals = { events: num(body.totals.events), active_users: `avg ${num(body.totals.avg_active_users)}`,
      new_users: num(body.totals.new_users), revenue: money(body.totals.revenue),
      error_rate: pct(body.totals.error_rate), conversion_rate: pct(body.totals.conversion_rate) };
    put("kpis", ...metrics.map(([title, key, format, color]) => h("div", {},
      h("div", { class: "chart-title" }, title, h("b", {}, totals[key])),
      lineChart(body.days.map((d) => ({ label: shortDate(d.date), value: d[key] || 0 })),
        { width: 300, height: 110, color, format }))));
  }

  function drawHourly(body) {
    put("hourly",
      h("div", { class: "legend" }, h("span", {}, h("i", { class: "c0" }), "events"),
        h("span", {}, h("i", { class: "c1" }), "errors")),
      barChart(body.hours.map((r) => ({ label: hourLabel(r.hour), value: r.events }))),
      barChart(body.hours.map((r) => ({ label: hourLabel(r.hour), value: r.errors })),
        { height: 80, color: COLORS[4] }));
  }

  function drawRevenue(body) {
    put("revenue",
      h("div", { class: "chart-title" }, `Net revenue per day (${body.currency})`, h("b", {}, money(body.totals.revenue))),
      barChart(body.days.map((d) => ({ label: shortDate(d.date), value: d.revenue })),
        { color: COLORS[2], format: money }),
      hbars(body.by_platform.map((r) => ({ label: `${r.platform} ${r.currency}`, value: r.revenue,
        note: `${money(r.revenue)} ${r.currency}` })), { color: COLORS[2], format: money, labelWidth: 120 }));
  }

  function drawPlatforms(body) {
    const rows = body.platforms;
    put("platforms",
      h("div", { class: "chart-title" }, "Events"),
      hbars(rows.map((r, i) => ({ label: r.platform, value: r.events, color: COLORS[i % COLORS.length] })),
        { labelWidth: 100 }),
      table([
        { title: "Platform", format: (r) => r.platform },
        { title: "Users/day", num: true, format: (r) => num(r.avg_daily_users) },
        { title: "Success", num: true, format: (r) => pct(r.success_rate) },
        { title: "p50 ms", num: true, format: (r) => num(r.api_p50_ms) },
        { title: "p95 ms", num: true, format: (r) => num(r.api_p95_ms) },
      ], rows));
  }

  function drawFunnel(body) {
    put("funnel", hbars(body.steps.map((step, i) => ({
      label: `${i + 1}. ${step.step}`, value: step.users,
      note: `${num(step.users)} · ${pct(step.conversion)}`,
    })), { color: COLORS[5], labelWidth: 140 }));
  }

  function drawRetention(body) {
    put("retention", heatmap(body.cohorts, body.periods, body.period === "week" ? "W" : "D"));
  }

  function drawLifecycle(body) {
    put("lifecycle", sankey(body.flows));
  }

  function drawSearch(body) {
    const rows = body.queries;
    put("search",
      hbars(rows.slice(0, 8).map((r) => ({ label: r.query || "(empty)", value: r.searches })),
        { color: COLORS[5], labelWidth: 130 }),
      table([
        { title: "Query", format: (r) => r.query || "(empty)" },
        { title: "Searches", num: true, format: (r) => num(r.searches) },
        { title: "No results", num: true, format: (r) => pct(r.zero_result_rate) },
        { title: "Avg results", num: true, format: (r) => num(r.avg_results) },
      ], rows));
  }

  function drawErrors(body) {
    put("errors",
      barChart(body.days.map((d) => ({ label: shortDate(d.date), value: d.events })),
        { color: COLORS[4], height: 110 }),
      table([
        { title: "Error type", format: (r) => r.error_type },
        { title: "Events", num: true, format: (r) => num(r.events) },
        { title: "User-days", num: true, format: (r) => num(r.affected_user_days) },
        { title: "Last seen", format: (r) => r.last_seen },
      ], body.types));
  }

  function drawTop(results) {
    const titles = { revenue: "By revenue", events: "By events", rating: "By rating" };
    const formats = { revenue: money, events: num, rating: (v) => Number(v).toFixed(2) };
    put("top", ...results.map((body) => h("div", {},
      h("div", { class: "chart-title" }, titles[body.metric]),
      hbars(body.entities.map((e) => ({
        label: e.entity,
        value: body.metric === "rating" ? e.avg_rating : e[body.metric],
      })), { format: formats[body.metric], labelWidth: 120, color: COLORS[body.metric === "rating" ? 2 : 0] }))));
  }

  // ---- pipeline health strip ----------------------------------------------------------------
  const STALE_SECONDS = 3600; // an hour without a load or a rollup reads as a problem
  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "never";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  }

  function drawHealth(body) {
    const stale = (seconds) => seconds === null || seconds > STALE_SECONDS;
    const rollups = body.rollups.filter((r) => r.seconds_ago !== null);
    const oldest = rollups.length ? Math.max(...rollups.map((r) => r.seconds_ago)) : null;
    const item = (label, value, bad, title) => h("span", { class: bad ? "bad" : "ok", title },
      `${label} `, h("b", {}, value));
    put("health",
      item("Last event loaded", ago(body.seconds_since_last_load), stale(body.seconds_since_last_load),
        body.last_event_loaded_at || "no event in the last three days"),
      item("Rollups", oldest === null ? "never" : `oldest ${ago(oldest)}`, stale(oldest),
        body.rollups.map((r) => `${r.table}: ${r.last_updated_at || "never"}`).join("\n")),
      item("Dead letters", body.dead_letters === null ? "see Cloud Monitoring" : num(body.dead_letters),
        Boolean(body.dead_letters), "messages the load gave up on after every attempt"));
  }

  // ---- Explore: any event's measure over time, its question kept in the URL's #fragment ------
  const EXPLORE_FIELDS = ["event", "measure", "interval", "days", "breakdown", "property", "filter"];
  let explored = null; // the last answer, for CSV

  function exploreForm() {
    return Object.fromEntries(EXPLORE_FIELDS.map((name) => [name, $(`x-${name}`).value.trim()]));
  }

  function exploreQuery(form) {
    const query = new URLSearchParams({
      event: form.event, measure: form.measure, interval: form.interval, days: form.days, limit: "6",
    });
    if (form.interval === "hour") query.set("days", String(Math.min(Number(form.days), 31)));
    const breakdown = form.breakdown === "property" ? `properties.${form.property}` : form.breakdown;
    if (breakdown) query.set("breakdown", breakdown);
    for (const part of form.filter.split(",")) if (part.trim()) query.append("filter", part.trim());
    return query;
  }

  function readFragment() {
    const fragment = new URLSearchParams(location.hash.replace(/^#explore\??/, ""));
    if (!location.hash.startsWith("#explore")) return;
    for (const name of EXPLORE_FIELDS) {
      if (fragment.has(name)) $(`x-${name}`).value = fragment.get(name);
    }
    $("x-property").hidden = $("x-breakdown").value !== "property";
  }

  function writeFragment(form) {
    const kept = new URLSearchParams(Object.entries(form).filter(([, value]) => value));
    history.replaceState(null, "", `#explore?${kept}`);
  }

  function drawExplore(body) {
    explored = body;
    const measure = body.measure;
    const format = measure.includes("revenue") ? money : num;
    const label = body.interval === "hour" ? (t) => `${shortDate(t)} ${hourLabel(t)}` : shortDate;
    const unit = body.currency ? ` (${body.currency})` : "";
    put("explore",
      h("div", { class: "chart-title" }, `${measure}${unit} of ${body.event}, per ${body.interval}`,
        h("b", {}, `${(body.bytes_billed / 1e6).toFixed(2)} MB scanned`)),
      multiLine(body.series, { format, label }),
      h("div", { class: "legend" }, body.series.map((one, index) => h("span", {},
        h("i", { style: null, class: `s${index % COLORS.length}` }),
        `${seriesName(one)} · ${format(one.total)}`))));
  }

  function exploreCsv() {
    if (!explored) return;
    const quote = (value) => {
      const text = value === null || value === undefined ? "" : String(value);
      return /[",\n\r]/.test(text) || /^[=+\-@]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    };
    const lines = ["t,key,value"];
    for (const one of explored.series) {
      for (const p of one.points) lines.push([p.t, seriesName(one), p.value].map(quote).join(","));
    }
    save(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }),
      `beacon-insights-${explored.event}.csv`);
  }

  // ---- refresh cycle ------------------------------------------------------------------------
  function showError(id, error) {
    put(id, h("p", { class: "error" }, `Could not load: ${error.message}`));
  }

  async function refresh() {
    if (!localStorage.getItem(TOKEN_KEY)) { askToken(); return; }
    const days = $("days").value;
    const periods = Math.min(13, Math.max(4, Math.ceil(days / 7)));
    const by = $("top-by").value;
    const steps = encodeURIComponent($("steps").value.replace(/\s+/g, ""));
    $("status").textContent = "Loading…";
    const jobs = {
      realtime: Promise.all([api("/v1/realtime"), api("/v1/trends/hourly?hours=24")]),
      kpis: api(`/v1/kpis?days=${days}`),
      hourly: api("/v1/trends/hourly?hours=48"),
      revenue: api(`/v1/revenue?days=${days}`),
      platforms: api(`/v1/platforms?days=${days}`),
      funnel: api(`/v1/funnel?steps=${steps}&days=${Math.min(days, 400)}`),
      retention: api(`/v1/retention?period=week&periods=${periods}`),
      lifecycle: api(`/v1/lifecycle?days=${days}`),
      search: api(`/v1/search?days=${days}&limit=10`),
      errors: api(`/v1/errors?days=${days}&limit=10`),
      explore: api(`/v1/insights?${exploreQuery(exploreForm())}`),
      health: api("/v1/health"),
      top: Promise.all(["revenue", "events", "rating"].map((metric) =>
        api(`/v1/top?by=${by}&metric=${metric}&days=${days}&limit=8`))),
    };
    const draw = {
      realtime: ([rt, hourly]) => drawRealtime(rt, hourly), kpis: drawKpis, hourly: drawHourly,
      revenue: drawRevenue, platforms: drawPlatforms, funnel: drawFunnel, retention: drawRetention,
      lifecycle: drawLifecycle, search: drawSearch, errors: drawErrors, top: drawTop,
      explore: drawExplore, health: drawHealth,
    };
    const target = { realtime: "tiles" };
    let bytes = 0, failed = 0, refused = false;
    await Promise.all(Object.entries(jobs).map(async ([name, job]) => {
      try {
        const body = await job;
        for (const part of [body].flat()) bytes += part.bytes_billed || 0;
        draw[name](body);
      } catch (error) {
        if (error instanceof AuthError) { refused = true; return; }
        failed += 1;
        showError(target[name] || name, error);
      }
    }));
    if (refused) {
      localStorage.removeItem(TOKEN_KEY);
      askToken("That token was refused.");
      return;
    }
    const time = new Date().toLocaleTimeString();
    $("status").textContent = `Updated ${time} · ${(bytes / 1e6).toFixed(2)} MB scanned` +
      (failed ? ` · ${failed} panel(s) failed` : "");
  }

  async function download(report) {
    const days = $("days").value;
    const response = await fetch(`/v1/export?report=${report}&format=csv&days=${days}`,
      { headers: { Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY) || ""}` } });
    if (!response.ok) { $("status").textContent = `Export failed (${response.status})`; return; }
    save(await response.blob(), `beacon-${report}.csv`);
  }

  // Hand a blob to the browser as a download named `filename`.
  function save(blob, filename) {
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    URL.revokeObjectURL(url);
  }

  function askToken(message) {
    $("login-error").textContent = message || "";
    if (!$("login").open) $("login").showModal();
    $("token").focus();
  }

  function schedule() {
    clearInterval(timer);
    timer = $("auto").checked ? setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS) : null;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", () => {
      localStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      refresh();
    });
    $("days").addEventListener("change", refresh);
    $("top-by").addEventListener("change", refresh);
    $("refresh").addEventListener("click", refresh);
    $("auto").addEventListener("change", schedule);
    $("signout").addEventListener("click", () => { localStorage.removeItem(TOKEN_KEY); askToken(); });
    $("funnel-form").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
    readFragment();
    $("x-breakdown").addEventListener("change", () => {
      $("x-property").hidden = $("x-breakdown").value !== "property";
    });
    $("explore-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = exploreForm();
      writeFragment(form);
      try {
        drawExplore(await api(`/v1/insights?${exploreQuery(form)}`));
      } catch (error) {
        showError("explore", error);
      }
    });
    $("explore-csv").addEventListener("click", exploreCsv);
    for (const button of document.querySelectorAll("[data-export]")) {
      button.addEventListener("click", () => download(button.dataset.export));
    }
    schedule();
    refresh();
  });
})();
