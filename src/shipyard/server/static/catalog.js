// The datasets and models pages: draw every embedded chart, and the editors' buttons.
"use strict";
(function () {
  // <div data-chart="x-spec"> + <script type="application/json" id="x-spec">{data, layout}</script>
  function drawCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-chart]").forEach((element) => {
      const spec = shipyard.data(element.dataset.chart);
      shipyard.chart(element.id, spec.data, spec.layout || {});
    });
  }

  // <button data-post="/api/models/m/aliases/{alias}" data-body='{"stage": "production"}'
  //   data-fields="alias-input version-select" data-confirm="Point {alias} at v{version}?">
  // Each field fills {its name} in the URL and the question, else goes into the body (as a
  // number with data-number); the reason comes from the page's #reason field.
  function request(button) {
    let url = button.dataset.post;
    let question = button.dataset.confirm || "Are you sure?";
    const body = JSON.parse(button.dataset.body || "{}");
    for (const id of (button.dataset.fields || "").split(" ").filter(Boolean)) {
      const field = document.getElementById(id);
      const value = field.value.trim();
      if (!value) { field.focus(); return null; }
      const slot = "{" + field.name + "}";
      question = question.split(slot).join(value);
      if (url.includes(slot)) url = url.split(slot).join(encodeURIComponent(value));
      else body[field.name] = field.dataset.number ? Number(value) : value;
    }
    const reason = document.getElementById("reason");
    if (reason && reason.value.trim()) body.reason = reason.value.trim();
    return { url, question, body, method: button.dataset.method || "POST" };
  }

  function wireActions() {
    const status = document.getElementById("action-status");
    document.querySelectorAll("button[data-post]").forEach((button) => {
      button.addEventListener("click", async () => {
        const asked = request(button);
        if (!asked || !window.confirm(asked.question)) return;
        button.disabled = true;
        try {
          if (asked.method === "POST") await shipyard.post(asked.url, asked.body);
          else await shipyard.json(asked.url, { method: asked.method });
          window.location.reload();
        } catch (error) {
          if (status) { status.textContent = error.message; status.hidden = false; }
          button.disabled = false;
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => { drawCharts(); wireActions(); });
})();
