/* reef credits: the header menu, the balance and the inline widget. No framework, no build.
   Every URL, sentence and the CSRF token come from the page; see credits/templates/credits/. */
(function () {
  "use strict";
  if (window.reefCredits) { window.reefCredits.scan(); return; }

  var REFRESH_MS = 30000;
  var balanceUrl = "", lastBalance = 0, balanceFetch = null, recentStale = true;

  function $(root, sel) { return root.querySelector(sel); }
  function all(root, sel) { return Array.prototype.slice.call(root.querySelectorAll(sel)); }
  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (m, name) { return name in values ? values[name] : m; });
  }
  function dollars(cents) {
    var whole = Math.floor(cents / 100).toLocaleString("en-US"), rest = cents % 100;
    return "$" + whole + (rest ? "." + String(rest).padStart(2, "0") : "");
  }
  function money(value) {
    return new Intl.NumberFormat(document.documentElement.lang || undefined, {style: "currency", currency: "USD"}).format(value);
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function csrfToken(root) {
    var input = $(root, "[name=csrfmiddlewaretoken]");
    if (input && input.value) return input.value;
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return {status: r.status, body: body}; });
    });
  }

  /* --- the balance: one fetch for every display on the page ---------------------------- */
  function place() { // keep open panels on a narrow screen, whatever the header around them does
    all(document, ".credits-panel:not([hidden])").forEach(function (panel) {
      panel.style.right = "";
      var box = panel.getBoundingClientRect(), room = document.documentElement.clientWidth - 8;
      if (box.left < 8) panel.style.right = (box.left - 8) + "px";
      else if (box.right > room) panel.style.right = (box.right - room) + "px";
    });
  }
  function showBalance(body) {
    all(document, "[data-credits-balance]").forEach(function (el) {
      var root = el.closest("[data-credits]"), text = JSON.parse(root.dataset.text);
      var ok = body && typeof body.remaining === "number";
      var low = ok && body.remaining < Number(root.dataset.lowBalance || 0);
      $(el, "[data-credits-amount]").textContent = ok ? money(body.remaining) : "—";
      $(el, "[data-credits-note]").textContent = ok ? (low ? text.low : "") : text.unavailable;
      el.classList.toggle("credits-balance--low", low);
      el.classList.toggle("credits-balance--unavailable", !ok);
      el.title = ok ? fill(text.detail, {credits: money(body.credits), spend: money(body.spend)})
                    : (body && body.error) || text.unavailableLong;
      var detail = $(root, "[data-credits-detail]");
      if (detail) detail.textContent = el.title;
    });
    place();
  }
  function loadBalance() {
    if (!balanceUrl) return null;
    if (balanceFetch) return balanceFetch;
    lastBalance = Date.now();
    balanceFetch = getJson(balanceUrl).then(function (a) {
      showBalance(a.status === 200 ? a.body : {error: a.body.error});
    }, function () { showBalance(null); }).then(function () { balanceFetch = null; });
    return balanceFetch;
  }

  /* --- the recent top-ups in the header menu --------------------------------------------- */
  function loadRecent(root) {
    var list = $(root, "[data-credits-recent]"), text = JSON.parse(root.dataset.text);
    if (!list || !root.dataset.recentUrl) return;
    recentStale = false;
    getJson(root.dataset.recentUrl).then(function (a) {
      if (a.status !== 200 || !a.body.topups) throw new Error();
      list.textContent = "";
      if (!a.body.topups.length) item(list, "credits-muted", text.recentEmpty);
      a.body.topups.forEach(function (t) {
        var li = item(list, "credits-item credits-item--" + t.status, "");
        var amount = document.createElement("strong"), time = document.createElement("time");
        amount.textContent = t.amount;
        time.dateTime = t.createdAt;
        time.textContent = new Date(t.createdAt).toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
        li.append(amount, " ", time, " ");
        item(li, "credits-outcome", t.statusText + (t.detail ? " (" + t.detail + ")" : ""), "span");
      });
    }).catch(function () { list.textContent = ""; item(list, "credits-muted", text.recentError); recentStale = true; });
  }
  function item(parent, cls, content, tag) {
    var el = document.createElement(tag || "li");
    el.className = cls;
    el.textContent = content;
    parent.appendChild(el);
    return el;
  }

  /* --- one top-up ------------------------------------------------------------------------ */
  function say(root, kind, message, url) {
    var status = $(root, "[data-credits-status]"), alert = $(root, "[data-credits-error]");
    status.textContent = kind === "status" ? message : "";
    alert.textContent = kind === "alert" ? message : "";
    if (url && kind === "alert") {
      var a = document.createElement("a");
      a.href = url;
      a.textContent = JSON.parse(root.dataset.text).billing;
      alert.append(" ", a);
    }
  }
  function setBusy(root, busy, button) {
    root.classList.toggle("credits--busy", busy);
    all(root, "form").forEach(function (f) { f.setAttribute("aria-busy", String(busy)); });
    all(root, "button[type=submit]").forEach(function (b) {
      if (busy) b.setAttribute("aria-disabled", "true"); else b.removeAttribute("aria-disabled");
      b.classList.toggle("credits-pressed", busy && b === button);
    });
  }
  function topup(root, cents, button) {
    if (root.creditsBusy) return; // a double click charges once: the second click waits here
    var text = JSON.parse(root.dataset.text);
    // One key per intended top-up: kept while the outcome is unknown, so a retry cannot charge twice.
    if (!root.creditsKey || root.creditsKey.cents !== cents) root.creditsKey = {cents: cents, key: newKey()};
    var key = root.creditsKey.key;
    root.creditsBusy = true;
    setBusy(root, true, button);
    say(root, "status", fill(text.adding, {amount: dollars(cents)}));
    fetch(root.dataset.topupUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(root), "Idempotency-Key": key},
      body: JSON.stringify({amountCents: cents, source: root.dataset.credits})
    }).then(function (r) {
      return r.json().then(function (body) { return {status: r.status, body: body}; },
                          function () { return {status: r.status, body: null}; });
    }, function () { return {status: 0, body: null}; }).then(function (a) {
      var unknown = a.status === 0 || a.status === 409 || (a.status >= 500 && a.status !== 503);
      if (a.status === 200 && a.body && a.body.ok) {
        root.creditsKey = null;
        say(root, "status", fill(text.added, {amount: dollars(cents)}));
        if (a.body.balance) showBalance(a.body.balance);
        else loadBalance();
        root.dispatchEvent(new CustomEvent("credits:topped-up", {bubbles: true, detail: {amountCents: cents, source: root.dataset.credits, balance: a.body.balance || null}}));
      } else {
        if (!unknown) root.creditsKey = null;
        var message = (a.body && a.body.error) || (a.status === 0 ? text.network : text.badAnswer);
        say(root, "alert", unknown ? message + " " + text.retrySafe : message, a.body && a.body.url);
        if (unknown) loadBalance();
      }
      recentStale = true;
      all(document, "[data-credits=header]").forEach(function (h) { if (!$(h, ".credits-panel").hidden) loadRecent(h); });
    }).then(function () {
      root.creditsBusy = false;
      setBusy(root, false);
    });
  }

  /* --- wiring ---------------------------------------------------------------------------- */
  function setup(root) {
    if (root.creditsReady) return;
    root.creditsReady = true;
    balanceUrl = balanceUrl || root.dataset.balanceUrl;
    var text = JSON.parse(root.dataset.text);
    all(root, "[data-credits-form]").forEach(function (form) {
      form.noValidate = true; // the script says what is wrong, in the live region
      form.addEventListener("click", function (event) { form.creditsClicked = event.target.closest("button"); });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = event.submitter || form.creditsClicked, input = $(form, "input[type=number]");
        if (!input) return topup(root, Number(button.dataset.amountCents), button);
        var value = input.value.trim(), dollarsWanted = Number(value);
        var problem = !/^\d+$/.test(value) ? text.invalid
          : dollarsWanted < Number(input.min) || dollarsWanted > Number(input.max) ? text.range : "";
        input.setAttribute("aria-invalid", String(!!problem));
        if (problem) { say(root, "alert", problem); input.focus(); return; }
        topup(root, dollarsWanted * 100, button || $(form, "button"));
      });
    });
    var toggle = $(root, ".credits-toggle"), panel = $(root, ".credits-panel");
    if (toggle && panel) setupMenu(root, toggle, panel);
  }

  function setupMenu(root, toggle, panel) {
    function open() {
      toggle.setAttribute("aria-expanded", "true");
      panel.hidden = false;
      place();
      if (recentStale || !$(root, ".credits-item")) loadRecent(root);
      loadBalance();
      $(panel, "button").focus();
    }
    function close(refocus) {
      if (panel.hidden) return;
      toggle.setAttribute("aria-expanded", "false");
      panel.hidden = true;
      if (refocus) toggle.focus();
    }
    toggle.addEventListener("click", function () { if (panel.hidden) open(); else close(false); });
    root.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !panel.hidden) { event.preventDefault(); close(true); }
    });
    document.addEventListener("click", function (event) {
      if (panel.hidden || root.contains(event.target)) return;
      var active = document.activeElement;
      close(!active || active === document.body || panel.contains(active));
    });
  }

  function scan() {
    all(document, "[data-credits]").forEach(setup);
    if (balanceUrl && !lastBalance) loadBalance();
  }

  window.reefCredits = {scan: scan, refresh: loadBalance};
  document.addEventListener("credits:refresh", loadBalance);
  window.addEventListener("resize", place);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && Date.now() - lastBalance >= REFRESH_MS) loadBalance();
  });
  setInterval(function () { if (document.visibilityState === "visible") loadBalance(); }, REFRESH_MS);
  // Widgets that arrive later (a chat message appended by a script) are wired up too.
  new MutationObserver(function (changes) {
    var found = changes.some(function (c) {
      return Array.prototype.some.call(c.addedNodes, function (n) {
        return n.nodeType === 1 && (n.matches("[data-credits]") || n.querySelector("[data-credits]"));
      });
    });
    if (found) scan();
  }).observe(document.documentElement, {childList: true, subtree: true});
  scan();
})();
