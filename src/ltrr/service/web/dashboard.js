// The dashboard: GET /v1/stats?detail=true (detail needs an admin key on a keyed service) and
// GET /v1/requests/recent, redrawn every few seconds. Numbers are shown as the API gives them.
"use strict";

(() => {
  const { api, el, svg, status } = ltrr;
  const COLORS = ["#1f5fa8", "#b3471d", "#2d7a3a", "#7a3d99", "#8a6d00", "#00707a", "#a3244f"];
  const REFRESH_MS = 3000;
  let strategyNames = [];

  function color(strategy) {
    const i = strategyNames.indexOf(strategy);
    return COLORS[(i < 0 ? strategyNames.length : i) % COLORS.length];
  }

  function fixed(x, digits = 3) {
    return typeof x === "number" ? x.toFixed(digits) : String(x);
  }

  function table(caption, headers, rows) {
    return el(
      "table",
      {},
      el("caption", { class: "sr-only" }, caption),
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", {}, cell))))),
    );
  }

  function legend(names) {
    return el(
      "ul",
      { class: "legend", "aria-hidden": "true" },
      ...names.map((name) =>
        el("li", {}, el("span", { class: "swatch", style: `background:${color(name)}` }), name),
      ),
    );
  }

  /** Grouped bars, one group per time bucket, heights in [0, 1]. */
  function bars(label, buckets, series) {
    const width = 320, height = 120, pad = 18;
    const group = (width - pad) / Math.max(buckets.length, 1);
    const bar = Math.max(2, (group - 4) / Math.max(series.length, 1));
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height + 16}`, role: "img", "aria-label": label, class: "chart",
    });
    chart.append(svg("line", { x1: pad, y1: height, x2: width, y2: height, class: "axis" }));
    chart.append(svg("text", { x: 0, y: 10, class: "tick" }, "1"));
    chart.append(svg("text", { x: 0, y: height, class: "tick" }, "0"));
    buckets.forEach((bucket, b) => {
      series.forEach((name, s) => {
        const value = bucket.values[name];
        if (value === undefined) return;
        const h = value * (height - 4);
        const rect = svg("rect", {
          x: pad + b * group + 2 + s * bar, y: height - h, width: bar - 1, height: h,
          fill: color(name),
        });
        rect.append(svg("title", {}, `${bucket.label} ${name}: ${fixed(value)}`));
        chart.append(rect);
      });
      chart.append(svg("text", { x: pad + b * group + 2, y: height + 13, class: "tick" }, bucket.label));
    });
    return chart;
  }

  function clock(s) {
    return new Date(s * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /** One chart per intent: ``pick(cell)`` gives the bars of that intent's bucket. */
  function perIntent(target, overTime, series, pick, what) {
    const intents = [...new Set(overTime.flatMap((t) => Object.keys(t.by_intent)))].sort();
    if (!intents.length) {
      target.replaceChildren(el("p", { class: "meta" }, "No lessons yet: search and click."));
      return;
    }
    target.replaceChildren(
      legend(series),
      ...intents.map((intent) => {
        const buckets = overTime
          .filter((t) => t.by_intent[intent])
          .map((t) => ({ label: clock(t.start_s), values: pick(t.by_intent[intent]) }));
        const figure = el("figure", {}, el("figcaption", {}, intent));
        figure.append(bars(`${what}, intent ${intent}`, buckets, series));
        return figure;
      }),
    );
  }

  function drawCounts(stats) {
    const log = stats.log || {};
    const items = [
      ["Searches logged", log.n_impressions, "log.n_impressions"],
      ["Actions logged", log.n_actions, "log.n_actions"],
      ["Lessons (requests with a wanted entity)", stats.lessons.n_lessons, "lessons.n_lessons"],
      ["Found-rate", fixed(stats.lessons.found_rate), "lessons.found_rate"],
      ["Policy updates", stats.learned.n_policy_updates, "learned.n_policy_updates"],
      ["Policy", stats.model_versions.policy, "model_versions.policy"],
      ["Ranker", stats.model_versions.ranker, "model_versions.ranker"],
      ["Catalog version", stats.catalog_version, "catalog_version"],
    ];
    document.getElementById("counts").replaceChildren(
      ...items.map(([label, value, key]) =>
        el("div", {}, el("dt", {}, label), el("dd", { "data-stat": key }, String(value ?? "n/a"))),
      ),
    );
  }

  function drawStrategies(stats) {
    const entries = Object.entries(stats.lessons.strategies);
    const target = document.getElementById("strategies");
    const rows = entries.map(([name, s]) => [
      name, String(s.n_runs), String(s.n_found), fixed(s.found_rate), fixed(s.reward), fixed(s.mean_reward),
    ]);
    const headers = ["strategy", "runs", "found", "found-rate", "reward", "mean reward"];
    const bucket = { label: "all", values: Object.fromEntries(entries.map(([n, s]) => [n, s.found_rate])) };
    target.replaceChildren(
      table("Found-rate and reward per strategy", headers, rows),
      legend(strategyNames),
      bars("Found-rate per strategy", [bucket], strategyNames),
    );
  }

  function drawOverTime(stats) {
    const mix = document.getElementById("mix");
    const found = document.getElementById("found");
    if (!stats.over_time) {
      const note = "Over-time charts need an admin key (stats detail).";
      mix.replaceChildren(el("p", { class: "meta" }, note));
      found.replaceChildren(el("p", { class: "meta" }, note));
      return;
    }
    perIntent(mix, stats.over_time, strategyNames, (cell) => cell.plan_share, "Plan share");
    perIntent(found, stats.over_time, ["found-rate"], (cell) => ({ "found-rate": cell.found_rate }), "Found-rate");
  }

  function drawLatency(stats) {
    const rows = Object.entries(stats.latency_ms).map(([route, l]) => [
      route, String(l.n), fixed(l.p50, 1), fixed(l.p99, 1),
    ]);
    document.getElementById("latency").replaceChildren(
      table("Latency per route", ["route", "requests", "p50 ms", "p99 ms"], rows),
    );
  }

  function drawRecent(recent) {
    const rows = recent.map((r) => [
      new Date(r.event_time_s * 1000).toLocaleTimeString(),
      r.query,
      Object.entries(r.depths).filter(([, d]) => d > 0).map(([s, d]) => `${s} ${d}`).join(", "),
      fixed(r.probability),
      r.policy,
      String(r.n_shown),
      String(r.n_actions),
    ]);
    const headers = ["time", "query", "plan", "probability", "policy", "shown", "actions"];
    document.getElementById("recent").replaceChildren(table("Last requests", headers, rows));
  }

  async function stats() {
    try {
      return await api("GET", "/v1/stats?detail=true");
    } catch (error) {
      if (error.status === 403) return api("GET", "/v1/stats");
      throw error;
    }
  }

  async function refresh() {
    try {
      const [s, recent] = await Promise.all([stats(), api("GET", "/v1/requests/recent?n=20")]);
      const planned = (s.over_time || []).flatMap((t) =>
        Object.values(t.by_intent).flatMap((c) => Object.keys(c.plan_share)),
      );
      strategyNames = [...new Set([...Object.keys(s.lessons.strategies), ...planned])].sort();
      drawCounts(s);
      drawStrategies(s);
      drawOverTime(s);
      drawLatency(s);
      drawRecent(recent);
      document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      if (document.getElementById("status").textContent.startsWith("Refresh failed")) status("");
    } catch (error) {
      status(`Refresh failed: ${error.message}`);
    }
  }

  ltrr.keyField(refresh);
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
