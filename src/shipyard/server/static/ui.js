// Shipyard's web UI: the little JavaScript the pages share (no framework, no build step).
// Pages work without it (tables, forms and links); it draws the charts and adds comforts.
"use strict";
const shipyard = {
  // the colours of series, in order (a run keeps its colour across a page's charts)
  colors: ["#2456d3", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899",
    "#84cc16", "#64748b", "#f97316"],

  // GET a JSON document of the REST API; throws with the server's one-line error.
  async json(url, options = {}) {
    const response = await fetch(url, { credentials: "same-origin", ...options });
    const body = response.status === 204 ? null : await response.json();
    if (!response.ok) throw new Error((body && body.error) || response.statusText);
    return body;
  },
  // POST a JSON body (the buttons of editors: promote, roll back, acknowledge...).
  post(url, body = {}) {
    return shipyard.json(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  },
  // Draw a plotly chart in the element (or element id), in the UI's style.
  chart(id, traces, layout = {}) {
    const base = {
      margin: { l: 56, r: 16, t: layout.title && layout.title.text ? 36 : 14, b: 40 },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", colorway: shipyard.colors,
      font: { family: "system-ui, 'Liberation Sans', sans-serif", size: 12, color: "#172033" },
      legend: { orientation: "h", y: -0.18 }, hovermode: "x unified",
      xaxis: { gridcolor: "#eef1f5", zerolinecolor: "#dfe4ea", automargin: true },
      yaxis: { gridcolor: "#eef1f5", zerolinecolor: "#dfe4ea", automargin: true },
    };
    const merged = { ...base, ...layout };
    for (const axis of ["xaxis", "yaxis"]) merged[axis] = { ...base[axis], ...(layout[axis] || {}) };
    return Plotly.newPlot(id, traces, merged,
      { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] });
  },
  // The JSON a page embedded in <script type="application/json" id="...">.
  data(id) {
    return JSON.parse(document.getElementById(id).textContent);
  },
  // Draw every <div data-figure="ID"> from the figure ({data, layout}) embedded as ID.
  async figures(root = document) {
    const pending = [];
    for (const element of root.querySelectorAll("[data-figure]")) {
      if (typeof Plotly === "undefined") break;
      const figure = shipyard.data(element.dataset.figure);
      element.replaceChildren();  // the SVG preview drawn with the page
      pending.push(shipyard.chart(element, figure.data, figure.layout || {}));
    }
    await Promise.all(pending);
    if (pending.length) {
      performance.mark("shipyard:charts");
      document.body.dataset.charts = String(pending.length);
    }
  },
};

// Forms marked data-autosubmit send themselves when a select changes (the button stays
// for people without JavaScript).
function autosubmit() {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    for (const select of form.querySelectorAll("select")) {
      select.addEventListener("change", () => form.requestSubmit());
    }
  }
}

// A table of checkboxes feeding a form (runs to compare): the button says how many are
// ticked and waits for enough; a header box ticks them all.
function selections() {
  for (const form of document.querySelectorAll("form[data-select]")) {
    const boxes = () => document.querySelectorAll(`input[form="${form.id}"][name="ids"]`);
    const button = form.querySelector("button");
    const least = Number(form.dataset.select) || 1;
    const update = () => {
      const ticked = [...boxes()].filter((box) => box.checked).length;
      button.disabled = ticked < least;
      button.textContent = `${form.dataset.label} (${ticked})`;
    };
    for (const box of boxes()) box.addEventListener("change", update);
    const all = document.querySelector(`input[data-all="${form.id}"]`);
    if (all) {
      all.addEventListener("change", () => {
        for (const box of boxes()) box.checked = all.checked;
        update();
      });
    }
    update();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  autosubmit();
  selections();
  shipyard.figures();
});
