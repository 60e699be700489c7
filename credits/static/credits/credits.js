(function () {
  "use strict";
  function csrfToken() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function dollars(cents) { return "$" + (cents / 100).toFixed(cents % 100 ? 2 : 0); }
  function setup(root) {
    var toggle = root.querySelector(".credits-toggle");
    var panel = root.querySelector(".credits-panel");
    var status = root.querySelector("[data-credits-status]");
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      panel.hidden = !open;
    });
    root.querySelectorAll("[data-amount-cents]").forEach(function (button) {
      button.addEventListener("click", function () {
        var cents = Number(button.dataset.amountCents);
        fetch(root.dataset.topupUrl, {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
          body: JSON.stringify({amountCents: cents, source: root.dataset.source})
        }).then(function (r) { return r.json(); }).then(function (data) {
          status.textContent = data.ok ? "Added " + dollars(cents) : data.error;
        });
      });
    });
  }
  document.querySelectorAll("[data-credits]").forEach(setup);
})();
