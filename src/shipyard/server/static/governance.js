// The model card page: editors save the card's sections through the evidence API.
"use strict";
(function () {
  function wireCardForm() {
    const form = document.getElementById("card-form");
    if (!form) return;
    const status = document.getElementById("card-status");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = (name) => form.elements[name].value.trim();
      const data = {
        intended_use: text("intended_use"),
        limitations: text("limitations"),
        ethical_considerations: text("ethical_considerations") || null,
        owners: text("owners") || null,
      };
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await shipyard.post(form.dataset.url, { kind: "card", data });
        window.location.reload();
      } catch (error) {
        status.textContent = error.message;
        status.hidden = false;
        button.disabled = false;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", wireCardForm);
})();
