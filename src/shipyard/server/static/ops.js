// Shipyard's operations pages: deployments, monitors, alerts and pipelines (no framework).
"use strict";
const ops = (() => {
  const COLOURS = ["#1f6feb", "#d4820f", "#1a7f37", "#8250df", "#cf222e", "#0a7ea4"];
  const times = (data) => data.times.map((t) => new Date(t));
  const above = { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" };
  // a chart's title on the first line, its legend on the next (side by side they overlap)
  const heading = (text) => ({ title: { text, x: 0.02, xanchor: "left", yref: "container", y: 0.98, yanchor: "top" }, legend: above, margin: { l: 56, r: 16, t: 66, b: 40 } });
  const clock = { tickformat: "%H:%M", hoverformat: "%Y-%m-%d %H:%M UTC", title: { text: "time (UTC)" } };
  const empty = (id, text) => {
    const el = document.getElementById(id);
    if (el) { el.classList.add("no-data"); el.textContent = text; }
  };
  // the figure a static report draws, as the page embedded it
  const figure = (id, fig, extra = {}) =>
    shipyard.chart(id, fig.data, { ...fig.layout, ...extra });

  function deployment() {
    const traffic = shipyard.data("traffic-data");
    const progress = shipyard.data("progress-data");
    const colour = {};
    progress.routes.forEach((r, i) => { colour[r.route] = COLOURS[i % COLOURS.length]; });
    traffic.series.forEach((s, i) => { colour[s.route] ??= COLOURS[(i + 2) % COLOURS.length]; });
    const live = progress.routes.filter((r) => r.share > 0);
    shipyard.chart("split-chart", [{
      type: "pie", hole: 0.6, sort: false, labels: live.map((r) => r.route),
      values: live.map((r) => r.share), textinfo: "label+percent", textposition: "inside",
      marker: { colors: live.map((r) => colour[r.route]) },
    }], { height: 220, margin: { l: 10, r: 10, t: 10, b: 10 }, showlegend: false });
    const x = times(traffic);
    const answered = traffic.series.filter((s) => !s.shadow);
    const name = (s) => s.route + (s.shadow ? " (shadow)" : "");
    const line = (s) => ({ color: colour[s.route], dash: s.shadow ? "dot" : "solid" });
    if (!traffic.series.length) {
      ["rate-chart", "latency-chart", "arms-chart"].forEach((id) => empty(id, "No traffic in this window."));
    } else {
      shipyard.chart("rate-chart", traffic.series.map((s) => ({
        x, y: s.rate_per_s, name: name(s), type: "scatter", mode: "lines+markers", line: line(s),
        marker: { size: 4 },
        fill: s.shadow ? "none" : "tozeroy",
      })), { ...heading("Request rate (per second)"), height: 320, xaxis: clock, yaxis: { rangemode: "tozero", title: { text: "requests / s" } } });
      const latency = [];
      answered.forEach((s) => {
        latency.push({ x, y: s.p50_ms, name: s.route + " p50", mode: "lines+markers", line: line(s), connectgaps: false });
        latency.push({ x, y: s.p99_ms, name: s.route + " p99", mode: "lines+markers", line: { ...line(s), dash: "dash" }, marker: { symbol: "diamond" } });
      });
      shipyard.chart("latency-chart", latency, { ...heading("Model latency (ms)"), height: 320, xaxis: clock, yaxis: { rangemode: "tozero", title: { text: "ms" } } });
      // each arm's share of the answers, minute by minute
      const totals = x.map((_, i) => answered.reduce((n, s) => n + s.requests[i], 0));
      shipyard.chart("arms-chart", answered.map((s) => ({
        x, y: s.requests.map((n, i) => (totals[i] ? (100 * n) / totals[i] : null)), name: s.route,
        stackgroup: "arms", mode: "lines", line: { color: colour[s.route], width: 0.5 }, connectgaps: false,
      })), { height: 240, legend: above, xaxis: clock, yaxis: { title: { text: "% of answers" }, range: [0, 100] }, margin: { l: 50, r: 10, t: 30, b: 40 } });
    }
    const errs = traffic.errors;
    shipyard.chart("errors-chart", [{
      type: "bar", x: errs.map((e) => e.route), y: errs.map((e) => (e.error_rate ?? 0) * 100),
      marker: { color: errs.map((e) => colour[e.route]) },
      text: errs.map((e) => `${e.errors} of ${e.requests}`), textposition: "outside",
    }], { title: { text: "Error rate, current period (%)" }, height: 300, xaxis: { title: { text: "route" } }, yaxis: { rangemode: "tozero", title: { text: "errors (% of requests)" } } });
    if (traffic.shadow.length) {
      shipyard.chart("shadow-chart", [{
        type: "bar", orientation: "h", y: traffic.shadow.map((s) => s.route),
        x: traffic.shadow.map((s) => (s.agreement ?? 0) * 100),
        text: traffic.shadow.map((s) => `${((s.agreement ?? 0) * 100).toFixed(1)}% of ${s.compared}`),
        textposition: "auto", marker: { color: traffic.shadow.map((s) => colour[s.route]) },
      }], { title: { text: "Shadow agreement with the answers (%)" }, height: 300, xaxis: { range: [0, 100], title: { text: "same answer (%)" } }, yaxis: { automargin: true, title: { text: "route" } } });
    } else {
      empty("shadow-chart", "No shadow route compared in this window.");
    }
    moves();
  }

  // editors' buttons: POST to the API, then reload to show the new state
  function moves() {
    document.querySelectorAll("[data-post]").forEach((button) => {
      button.addEventListener("click", async () => {
        const status = document.getElementById(button.dataset.status || "move-result");
        const reason = document.getElementById("reason");
        const body = reason && reason.value ? { reason: reason.value } : {};
        button.disabled = true;
        try {
          await shipyard.post(button.dataset.post, body);
          if (status) status.textContent = "Done.";
          window.location.reload();
        } catch (error) {
          if (status) { status.textContent = error.message; status.classList.add("error"); }
          button.disabled = false;
        }
      });
    });
  }

  function monitor() {
    const drift = shipyard.data("drift-data");
    const figures = shipyard.data("figures-data");
    // p-values shrink as drift grows: drawn as -log10(p), so higher always means more drift
    const pvalue = (s) => s.metric.endsWith("p_value");
    const score = (s, v) => (v === null ? null : pvalue(s) ? -Math.log10(Math.max(v, 1e-300)) : v);
    const single = drift.length && drift.every((s) => s.times.length === 1);
    if (single) {
      const shown = drift.filter((s) => s.detector === drift[0].detector && s.feature);
      shipyard.chart("drift-chart", [
        { type: "bar", name: "drift score", x: shown.map((s) => s.feature), y: shown.map((s) => score(s, s.value[0])),
          marker: { color: shown.map((s) => (s.flagged[0] ? "#cf222e" : "#1a7f37")) },
          hovertext: shown.map((s) => `${s.metric} ${s.value[0]} (threshold ${s.threshold[0]})`), hoverinfo: "text" },
        { type: "scatter", mode: "markers", name: "threshold", x: shown.map((s) => s.feature),
          y: shown.map((s) => score(s, s.threshold[0])), marker: { symbol: "line-ew", size: 30, line: { width: 3, color: "#1c2430" } } },
      ], { height: 380, yaxis: { title: { text: "drift score (−log10 p)" } }, xaxis: { automargin: true, title: { text: "feature" } },
        title: { text: "One check so far: each feature against its threshold (red: drifted)" } });
    } else if (drift.length) {
      const traces = [];
      drift.forEach((s, i) => {
        const colour = COLOURS[i % COLOURS.length];
        const label = s.feature ? `${s.feature} (${s.metric})` : s.metric;
        const visible = s.detector === drift[0].detector ? true : "legendonly";
        traces.push({ x: s.times.map((t) => new Date(t)), y: s.value.map((v) => score(s, v)), name: label,
          mode: "lines+markers", line: { color: colour }, marker: { size: 6 }, visible,
          customdata: s.value, hovertemplate: `${label}: %{customdata}<extra></extra>` });
      });
      shipyard.chart("drift-chart", traces, { height: 380, xaxis: { hoverformat: "%Y-%m-%d %H:%M UTC", title: { text: "check time (UTC)" } },
        yaxis: { title: { text: "drift score (p-values as −log10 p)" } }, legend: { orientation: "v" } });
    } else {
      empty("drift-chart", "No check stored yet.");
    }
    figures.forEach((f) => figure(f.id, f.figure, f.id.startsWith("over-")
      ? { height: f.height || 300, xaxis: { tickformat: "%H:%M", hoverformat: "%Y-%m-%d %H:%M UTC", title: { text: "check time (UTC)" } },
        yaxis: { ...f.figure.layout.yaxis, title: { text: f.figure.layout.yaxis?.title?.text || f.figure.data.map((t) => t.name).find(Boolean) || "value" } } }
      : distribution(f)));
  }

  // a report's reference-against-current bars, compact: the section says which colour is which
  const distribution = (f) => ({
    height: f.height || 280, showlegend: false, title: { ...f.figure.layout.title, font: { size: 13 } },
    xaxis: { tickangle: -35, tickfont: { size: 9 }, automargin: true, title: { text: "value (bins)", font: { size: 11 } } }, margin: { l: 50, r: 10, t: 40, b: 30 },
  });

  function check() {
    shipyard.data("figures-data").forEach((f) => figure(f.id, f.figure, distribution(f)));
  }

  function alerts() {
    const items = shipyard.data("alerts-data");
    if (!items.length) { empty("timeline-chart", "No alerts."); moves(); return; }
    const now = new Date();
    const colour = { open: "#cf222e", acknowledged: "#d4820f", resolved: "#1a7f37" };
    const rows = items.map((a) => `#${a.id} ${a.monitor}: ${a.detector}`);
    // each alert's life as segments: open until acknowledged (or resolved, or now), then
    // acknowledged until resolved (or now); a resolved alert ends in a mark
    const segments = { open: [], acknowledged: [] };
    items.forEach((a) => {
      const row = `#${a.id} ${a.monitor}: ${a.detector}`;
      const opened = new Date(a.opened_at);
      const acked = a.acknowledged_at ? new Date(a.acknowledged_at) : null;
      const end = a.resolved_at ? new Date(a.resolved_at) : now;
      segments.open.push({ row, from: opened, to: acked || end, a });
      if (acked) segments.acknowledged.push({ row, from: acked, to: end, a });
    });
    const traces = Object.entries(segments).filter(([, list]) => list.length).map(([status, list]) => ({
      type: "bar", orientation: "h", name: status, marker: { color: colour[status] },
      y: list.map((s) => s.row), base: list.map((s) => s.from),
      x: list.map((s) => Math.max(s.to - s.from, 1000)),
      hovertext: list.map((s) => `${s.a.title} (${status})`), hoverinfo: "text",
    }));
    const resolved = items.filter((a) => a.resolved_at);
    if (resolved.length) {
      traces.push({ type: "scatter", mode: "markers", name: "resolved", marker: { color: colour.resolved, size: 12, symbol: "diamond" },
        y: resolved.map((a) => `#${a.id} ${a.monitor}: ${a.detector}`), x: resolved.map((a) => new Date(a.resolved_at)) });
    }
    shipyard.chart("timeline-chart", traces, {
      barmode: "overlay", height: Math.max(220, 80 + 28 * rows.length),
      xaxis: { type: "date", hoverformat: "%Y-%m-%d %H:%M:%S UTC", title: { text: "time (UTC)" } }, legend: above, yaxis: { automargin: true, categoryorder: "array", categoryarray: rows.slice().reverse(), title: { text: "alert" } },
      margin: { l: 20, r: 20, t: 30, b: 40 },
    });
    moves();
  }

  function run() {
    const fig = shipyard.data("dag-data");
    figure("dag-chart", fig, { height: fig.layout.height || 360, title: { text: "" } });
    document.querySelectorAll("details.logs").forEach((box) => {
      box.addEventListener("toggle", async () => {
        const pre = box.querySelector("pre");
        if (!box.open || pre.dataset.loaded) return;
        const response = await fetch(box.dataset.url, { credentials: "same-origin" });
        pre.textContent = (await response.text()) || "(no output)";
        pre.dataset.loaded = "1";
      });
    });
    moves();
  }

  function pipeline() {
    const runs = shipyard.data("runs-data");
    if (runs.length) {
      const colour = { succeeded: "#1a7f37", failed: "#cf222e", running: "#1f6feb", queued: "#d4820f", cancelled: "#8d6e63" };
      shipyard.chart("runs-chart", [{
        type: "bar", x: runs.map((r) => `${r.id.slice(0, 8)} · ${r.created_at.slice(5, 16).replace("T", " ")}`),
        y: runs.map((r) => r.duration ?? 0), marker: { color: runs.map((r) => colour[r.status] || "#999") },
        hovertext: runs.map((r) => `${r.id.slice(0, 12)} ${r.status}`), hoverinfo: "text+y",
      }], { height: 240, xaxis: { type: "category", range: [-0.5, Math.max(runs.length, 12) - 0.5], title: { text: "run · created (UTC)" } },
        yaxis: { title: { text: "seconds" } }, margin: { l: 50, r: 10, t: 10, b: 50 } });
    } else {
      empty("runs-chart", "No run yet.");
    }
    moves();
  }

  return { deployment, monitor, check, alerts, run, pipeline, moves };
})();
