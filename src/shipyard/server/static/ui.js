// Shipyard's web UI: the little JavaScript the pages share (no framework, no build step).
"use strict";
const shipyard = {
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
  // Draw a plotly chart in the element with this id, in the UI's style.
  chart(id, traces, layout = {}) {
    const base = {
      margin: { l: 50, r: 20, t: 30, b: 40 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      font: { family: "system-ui, sans-serif", size: 12 }, legend: { orientation: "h" },
    };
    return Plotly.newPlot(id, traces, { ...base, ...layout }, { responsive: true, displaylogo: false });
  },
  // The JSON a page embedded in <script type="application/json" id="...">.
  data(id) {
    return JSON.parse(document.getElementById(id).textContent);
  },
};
