/* reef credits: the header menu, the balance and the inline widget. No framework, no build.
   Every URL, sentence and the CSRF token come from the page; see credits/templates/credits/.
   A page may set options before this script runs: window.reefCredits = {pollMs: 2000,
   pollMaxMs: 15000, watchMs: 600000, refreshMs: 30000} (how often the recent top-ups are
   checked while an outcome is unknown, for how long a widget keeps checking, and how often
   the balance is refreshed). Each balance shown is also sent as a "credits:balance" event. */
(function () {
  "use strict";
  var options = window.reefCredits || {};
  if (typeof options.scan === "function") { options.scan(); return; }

  var REFRESH_MS = Number(options.refreshMs) > 0 ? Number(options.refreshMs) : 30000;
  var POLL_MS = Number(options.pollMs) > 0 ? Number(options.pollMs) : 2000;
  var POLL_MAX_MS = Math.max(POLL_MS, Number(options.pollMaxMs) > 0 ? Number(options.pollMaxMs) : 15000);
  var WATCH_MS = Number(options.watchMs) > 0 ? Number(options.watchMs) : 600000;
  var KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

  var balanceUrl = "", lastBalance = 0, balanceFetch = null, balanceAgain = false;
  var recentUrl = "", recentStale = true, recentFetch = null, recentAgain = false;
  var recentTimer = 0, recentDelay = 0, recentLast = null;
  var watching = [];  // the widgets waiting for an attempt whose outcome is unknown
  var told = {};      // attempt ids whose outcome this page has shown already
  var recalled = {};  // sessionStorage entries already given back to a widget on this page

  function $(root, sel) { return root.querySelector(sel); }
  function all(root, sel) { return Array.prototype.slice.call(root.querySelectorAll(sel)); }
  function has(object, name) { return Object.prototype.hasOwnProperty.call(object, name); }
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
  function texts(root) { return JSON.parse(root.dataset.text); }
  function unsettled(t) { return t.status === "pending" || t.status === "unknown"; }
  function openPanels() { return all(document, "[data-credits=header] .credits-panel:not([hidden])"); }

  /* --- the balance: one fetch for every display on the page ---------------------------- */
  // Keep open panels inside the window, whatever the header around them does: centred on a
  // narrow screen (a phone), else under the button but never past an edge; never taller than
  // the room below its top (the panel scrolls inside).
  function place() {
    openPanels().forEach(function (panel) {
      panel.style.right = "";
      panel.style.maxHeight = "";
      var box = panel.getBoundingClientRect(), width = document.documentElement.clientWidth, room = width - 8;
      if (width < box.width * 1.5) panel.style.right = (box.left - (width - box.width) / 2) + "px";
      else if (box.left < 8) panel.style.right = (box.left - 8) + "px";
      else if (box.right > room) panel.style.right = (box.right - room) + "px";
      var below = window.innerHeight - Math.max(box.top, 0) - 8;
      if (below > 0 && box.height > below) panel.style.maxHeight = Math.max(below, 160) + "px";
    });
  }
  // keepWarning: the body is a top-up's answer, which says nothing about the warning.
  function showBalance(body, keepWarning) {
    all(document, "[data-credits-balance]").forEach(function (el) {
      var root = el.closest("[data-credits]"), text = texts(root);
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
    if (body && typeof body.remaining === "number") {
      // Out of credits with a stopped task's "Credits exhausted" widget on the page: that one says it.
      var stopped = body.remaining <= 0 && !!document.querySelector("[data-credits=inline]");
      if (!keepWarning) showWarning(stopped ? "" : body.warning || "");
      document.dispatchEvent(new CustomEvent("credits:balance", {detail: body}));
    }
  }
  // The "running low" warning (above a chat's message box) as the balance's answer says. One
  // the user is working in stays until focus leaves it, saying the warning is over.
  function showWarning(warning) {
    all(document, "[data-credits-warning]").forEach(function (root) {
      var title = $(root, "[data-credits-warning-text]"), lead = $(root, "[data-credits-warning-lead]");
      root.creditsWarningOver = !warning && !root.hidden && root.contains(document.activeElement);
      if (lead) lead.hidden = root.creditsWarningOver; // "Add credits now" no more
      if (warning) {
        title.textContent = warning;
        root.hidden = false;
      } else if (root.creditsWarningOver) {
        title.textContent = texts(root).warningOver;
        leaveWarning(root);
      } else {
        root.hidden = true;
      }
    });
  }
  function leaveWarning(root) {
    if (root.creditsWarningLeave) return;
    root.creditsWarningLeave = true;
    root.addEventListener("focusout", function (event) {
      if (!root.creditsWarningOver || root.contains(event.relatedTarget)) return;
      setTimeout(function () { // once focus has moved; kept when the window lost it (focus comes back)
        if (!root.creditsWarningOver || !document.hasFocus() || root.contains(document.activeElement)) return;
        root.creditsWarningOver = false;
        root.hidden = true;
      });
    });
  }
  // fresh: the balance has just changed, so a fetch already under way (which may have been
  // answered before the change) is followed by one more.
  function loadBalance(fresh) {
    if (!balanceUrl) return null;
    if (balanceFetch) { if (fresh === true) balanceAgain = true; return balanceFetch; }
    lastBalance = Date.now();
    balanceFetch = getJson(balanceUrl).then(function (a) {
      showBalance(a.status === 200 ? a.body : {error: a.body.error});
    }, function () { showBalance(null); }).then(function () {
      balanceFetch = null;
      if (balanceAgain) { balanceAgain = false; loadBalance(); }
    });
    return balanceFetch;
  }

  /* --- the recent top-ups: one list for the header menus and the widgets that wait ------- */
  function showRecent(topups) {
    all(document, "[data-credits=header] [data-credits-recent]").forEach(function (list) {
      var text = texts(list.closest("[data-credits]"));
      list.textContent = "";
      if (!topups) { item(list, "credits-muted", text.recentError); return; }
      if (!topups.length) item(list, "credits-muted", text.recentEmpty);
      topups.forEach(function (t) {
        var li = item(list, "credits-item credits-item--" + t.status, "");
        var amount = document.createElement("strong"), time = document.createElement("time");
        amount.textContent = t.amount;
        time.dateTime = t.createdAt;
        // The server writes the time as the page without JavaScript does: one format for both.
        time.textContent = t.createdText ||
          new Date(t.createdAt).toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
        li.append(amount, " ", time, " ");
        if (t.source === "auto") { item(li, "credits-tag", text.auto, "span"); li.append(" "); }
        // The label alone keeps the line short; the billing service's sentence is its tooltip.
        var outcome = item(li, "credits-outcome", t.statusText, "span");
        if (t.detail && t.detail !== t.statusText) outcome.title = t.detail;
      });
    });
    place();
  }
  function item(parent, cls, content, tag) {
    var el = document.createElement(tag || "li");
    el.className = cls;
    el.textContent = content;
    parent.appendChild(el);
    return el;
  }
  function loadRecent() {
    if (!recentUrl) return;
    if (recentFetch) { recentAgain = true; return; } // the answer under way may predate a top-up
    clearTimeout(recentTimer);
    recentTimer = 0;
    recentStale = false;
    function done() {
      recentFetch = null;
      if (recentAgain) { recentAgain = false; loadRecent(); } else pollRecent();
    }
    recentFetch = getJson(recentUrl).then(function (a) {
      if (a.status !== 200 || !a.body || !Array.isArray(a.body.topups)) throw new Error("no list");
      return a.body.topups;
    }).then(function (topups) {
      recentLast = topups;
      showRecent(topups);
      check(topups);
    }, function () {
      recentStale = true;
      showRecent(null);
    }).then(done, function (e) { done(); throw e; });
  }
  // The only polling there is: while a widget waits for an unknown outcome, or while a menu
  // is open on a list that shows one. The wait grows from POLL_MS to POLL_MAX_MS.
  function pollRecent(restart) {
    clearTimeout(recentTimer);
    recentTimer = 0;
    if (restart) recentDelay = 0;
    if (recentFetch || !recentUrl) return; // the fetch under way calls this again when it ends
    var now = Date.now();
    watching = watching.filter(function (root) { return root.creditsWatchUntil > now && root.creditsUnknown; });
    var menu = openPanels().length > 0 && !!recentLast && recentLast.some(unsettled);
    if (!watching.length && !menu) { recentDelay = 0; return; }
    recentDelay = recentDelay ? Math.min(POLL_MAX_MS, Math.round(recentDelay * 1.5)) : POLL_MS;
    recentTimer = setTimeout(loadRecent, recentDelay);
  }

  /* --- an outcome that is not known yet: kept (in sessionStorage too) and watched -------- */
  function storageName(root) { return "reef-credits:" + root.dataset.credits + ":" + location.pathname; }
  function readStored(name) {
    try {
      var saved = JSON.parse(sessionStorage.getItem(name) || "null");
      if (saved && (saved.key === null || (typeof saved.key === "string" && KEY_PATTERN.test(saved.key))) &&
          typeof saved.cents === "number" && saved.cents > 0 && saved.cents % 1 === 0) {
        return {cents: saved.cents, key: saved.key, attempt: typeof saved.attempt === "string" ? saved.attempt : null};
      }
    } catch (e) { /* storage refused (private mode, disabled) or garbled: nothing to restore */ }
    return null;
  }
  function writeStored(name, value) {
    try {
      if (value) sessionStorage.setItem(name, JSON.stringify(value)); else sessionStorage.removeItem(name);
    } catch (e) { /* storage refused or full: the key in memory still protects this page */ }
  }
  function keepUnknown(root, unknown) { // the outcome of this key is not known: keep it, watch it
    var name = storageName(root);
    if (root.creditsStored && root.creditsStored !== name) dropStored(root);
    root.creditsUnknown = unknown;
    root.creditsStored = name;
    recalled[name] = true; // this widget's entry: a widget that arrives later does not take it too
    writeStored(name, unknown);
    root.creditsWatchUntil = Date.now() + WATCH_MS;
    if (watching.indexOf(root) < 0) watching.push(root);
    pollRecent(true);
  }
  function forgetSent(root, key) { // the answer was definite: the key kept before sending goes
    var name = storageName(root), saved = readStored(name);
    if (saved && saved.key === key) writeStored(name, null);
  }
  function dropStored(root) { // only this widget's own entry: another widget may have written since
    var saved = root.creditsStored && readStored(root.creditsStored);
    if (saved && root.creditsUnknown && saved.key === root.creditsUnknown.key) writeStored(root.creditsStored, null);
  }
  function clearUnknown(root) { // a definite answer: the next top-up gets a new key
    dropStored(root);
    root.creditsUnknown = null;
    root.creditsStored = "";
    root.creditsWatchUntil = 0;
    watching = watching.filter(function (r) { return r !== root; });
  }
  // The user's top-up that the server says is in flight or unsettled (data-pending), if any.
  function pendingOf(root) {
    try {
      var p = JSON.parse(root.dataset.pending || "null");
      if (p && typeof p.attempt === "string" && typeof p.cents === "number") return p;
    } catch (e) { /* garbled: the recent top-ups still tell */ }
    return null;
  }
  // After a reload: the server's word on a top-up still under way is shown at once and watched;
  // the key kept in sessionStorage for the same amount is reused, so pressing it again is a retry.
  function recall(root) {
    var name = storageName(root), saved = has(recalled, name) ? null : readStored(name);
    var pending = pendingOf(root);
    if (saved) recalled[name] = true;
    if (pending) {
      var ours = saved && (saved.attempt ? saved.attempt === pending.attempt : saved.cents === pending.cents);
      saved = {cents: pending.cents, key: ours ? saved.key : null, attempt: pending.attempt};
    }
    if (saved) keepUnknown(root, saved);
  }
  // What the recent top-ups say about each widget's unknown outcome. Every widget that watched
  // an attempt shows how it ended; one that this page had shown already is not shown again.
  function check(topups) {
    var now = {};
    watching.slice().forEach(function (root) {
      var unknown = root.creditsUnknown;
      if (!unknown || root.creditsBusy) return; // the request under way will say
      if (!document.documentElement.contains(root)) { root.creditsWatchUntil = 0; return; }
      var t = find(topups, unknown, root.dataset.credits);
      if (!t) { root.creditsWatchUntil = 0; return; } // nothing to watch; the key stays, so a retry is safe
      if (!unknown.attempt) { unknown.attempt = t.id; writeStored(root.creditsStored, unknown); }
      if (unsettled(t)) return;
      clearUnknown(root);
      if (has(told, t.id) && !has(now, t.id)) return; // shown already, by an answer on this page
      var first = !has(now, t.id);
      told[t.id] = now[t.id] = true;
      if (t.status === "succeeded") {
        added(root, t.amountCents, null, first ? t.id : null, null, !first);
        if (first) seen(root, t.id);
      } else say(root, "alert", t.detail || t.statusText);
    });
  }
  function find(topups, unknown, source) {
    for (var i = 0; i < topups.length; i++) { // newest first
      var t = topups[i];
      if (unknown.attempt ? t.id === unknown.attempt
                          : unsettled(t) && t.amountCents === unknown.cents && t.source === source) return t;
    }
    return null;
  }

  /* --- one top-up ------------------------------------------------------------------------ */
  function say(root, kind, message, url) {
    var status = $(root, "[data-credits-status]"), alert = $(root, "[data-credits-error]");
    status.textContent = kind === "status" ? message : "";
    alert.textContent = kind === "alert" ? message : "";
    if (url && kind === "alert") {
      var a = document.createElement("a");
      a.href = url;
      a.target = "_blank"; // the billing page in a tab of its own: the chat stays as it is
      a.rel = "noopener";
      a.textContent = texts(root).billing;
      alert.append(" ", a);
    }
  }
  function seen(root, attempt) { // tell the server the user has been told, so it need not say it again
    if (!root.dataset.seenUrl) return;
    fetch(root.dataset.seenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(root)},
      body: JSON.stringify({attempt: attempt})
    }).catch(function () { /* the next top-up then says it once more: harmless */ });
  }
  function added(root, cents, balance, attempt, sentence, quiet) {
    say(root, "status", sentence || fill(texts(root).added, {amount: dollars(cents)}));
    if (quiet) return; // another widget of this page has announced the same top-up
    if (!balance) loadBalance(true);
    else {
      showBalance(balance, true);
      // Whether the warning is over is the server's to say (it ends further above the line).
      if (document.querySelector("[data-credits-warning]:not([hidden])")) loadBalance(true);
    }
    root.dispatchEvent(new CustomEvent("credits:topped-up", {bubbles: true, detail: {
      amountCents: cents, source: root.dataset.credits, balance: balance || null, attempt: attempt || null}}));
  }
  function setBusy(root, busy, button) {
    root.classList.toggle("credits--busy", busy);
    all(root, "form").forEach(function (f) { f.setAttribute("aria-busy", String(busy)); });
    all(root, "button[type=submit]").forEach(function (b) {
      if (busy) b.setAttribute("aria-disabled", "true"); else b.removeAttribute("aria-disabled");
      b.classList.toggle("credits-pressed", busy && b === button);
    });
  }
  // What became of the top-up: the server says it in "outcome". Without one (no answer, a
  // proxy's error page), money may have moved, unless the request was refused outright (4xx).
  function outcomeOf(a) {
    if (a.body && typeof a.body.outcome === "string") return a.body.outcome;
    return a.status >= 400 && a.status < 500 ? "refused" : "unknown";
  }
  // Whether money may have moved: then the key is kept, and only then is a retry said to be safe.
  function outcomeUnknown(a) {
    var outcome = outcomeOf(a);
    return outcome === "unknown" || outcome === "pending";
  }
  function topup(root, cents, button) {
    if (root.creditsBusy) return; // a double click charges once: the second click waits here
    var text = texts(root), unknown = root.creditsUnknown;
    // One key per intended top-up, kept while its outcome is unknown (across a reload too, in
    // sessionStorage), so pressing the same amount again cannot charge twice.
    var same = !!unknown && !!unknown.key && unknown.cents === cents;
    var key = same ? unknown.key : newKey();
    // Kept before it is sent: a reload while the answer is on its way retries with the same key.
    if (!same) writeStored(storageName(root), {cents: cents, key: key, attempt: null});
    root.creditsBusy = true;
    setBusy(root, true, button);
    say(root, "status", fill(text.adding, {amount: dollars(cents)}));
    fetch(root.dataset.topupUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(root), "Idempotency-Key": key},
      body: JSON.stringify({amountCents: cents, source: root.dataset.credits})
    }).then(function (r) {
      return r.json().then(function (body) { return {status: r.status, body: body && typeof body === "object" ? body : null}; },
                          function () { return {status: r.status, body: null}; });
    }, function () { return {status: 0, body: null}; }).then(function (a) {
      var body = a.body || {};
      if (!same && !(a.status === 409 && body.code === "earlier_in_progress") && !outcomeUnknown(a)) forgetSent(root, key);
      // Another widget of this page (one watching the same attempt) may have announced it already.
      var announced = !!body.attempt && has(told, body.attempt);
      if (outcomeOf(a) === "succeeded") {
        clearUnknown(root);
        if (body.attempt) told[body.attempt] = true;
        added(root, cents, body.balance, body.attempt, null, announced);
      } else if (a.status === 409 && body.code === "earlier_topup_succeeded") {
        // Good news: an earlier top-up went through, and nothing more was charged.
        clearUnknown(root);
        if (body.attempt) told[body.attempt] = true;
        var earlier = typeof body.amountCents === "number" ? body.amountCents : cents;
        added(root, earlier, null, body.attempt, body.error, announced);
      } else if (a.status === 409 && body.code === "earlier_in_progress") {
        // Nothing was sent: another top-up of this user's is on its way. Watch it, say how it ends.
        keepUnknown(root, {cents: body.amountCents, key: null, attempt: body.attempt || null});
        say(root, "status", body.error);
      } else if (outcomeUnknown(a)) {
        keepUnknown(root, {cents: cents, key: key, attempt: body.attempt || (same ? unknown.attempt : null)});
        var message = body.error || (a.status === 0 ? text.network : text.badAnswer);
        // One instruction, the true one: the same key is reused, so the same amount again is safe.
        if (message.indexOf(text.retrySafe) < 0) message += " " + text.retrySafe;
        say(root, "alert", message);
        loadBalance();
      } else {
        if (same) clearUnknown(root); // else an earlier unknown outcome is still watched
        if (body.attempt) told[body.attempt] = true;
        say(root, "alert", body.error || text.badAnswer, body.url);
      }
      recentStale = true;
      if (openPanels().length) loadRecent();
    }).then(function () {
      root.creditsBusy = false;
      setBusy(root, false);
    }, function (e) {
      root.creditsBusy = false;
      setBusy(root, false);
      throw e;
    });
  }

  /* --- auto top-up: the header's section and notice, from GET auto-topup ----------------- */
  function autoText(section, name, values) { return fill(section.getAttribute("data-text-" + name) || "", values || {}); }
  function showAuto(root, state) {
    var section = $(root, "[data-credits-auto]"), notice = $(root, "[data-credits-auto-notice]");
    var reasonText = state && state.disabledReason && section ? autoText(section, "reason", {reason: state.disabledReason}) : "";
    if (notice) { notice.textContent = reasonText; notice.hidden = !reasonText; }
    if (!section) return;
    var summary = $(section, "[data-credits-auto-summary]"), form = $(section, "[data-credits-auto-form]");
    var reason = $(section, "[data-credits-auto-reason]"), line = $(section, "[data-credits-auto-line]");
    var text = texts(root);
    if (!state) { summary.textContent = autoText(section, "error"); form.hidden = true; place(); return; }
    var values = {threshold: dollars(state.thresholdCents), amount: dollars(state.amountCents),
                  cap: dollars(state.monthlyCapCents), spent: dollars(state.spentThisMonthCents)};
    reason.textContent = reasonText;
    reason.hidden = !reasonText;
    line.textContent = state.enabled ? fill(text.autoOn, values) : text.autoOff;
    // "Spent this month" is said once, here, when there is something to say.
    var spent = state.enabled || state.spentThisMonthCents > 0 ? " " + autoText(section, "spent", values) : "";
    summary.textContent = state.enabled ? autoText(section, "on", values) + spent
                                        : autoText(section, "off") + spent + (state.canManage ? "" : " " + autoText(section, "ask"));
    form.hidden = !state.canManage;
    if (state.canManage && !section.creditsAutoEditing) {
      $(form, "[data-auto-field=enabled]").checked = state.enabled;
      ["thresholdCents", "amountCents", "monthlyCapCents"].forEach(function (name) {
        $(form, "[data-auto-field=" + name + "]").value = String(Math.floor(state[name] / 100));
      });
    }
    place();
  }
  function loadAuto(root) {
    if (!root.dataset.autoTopupUrl || root.creditsAutoFetch) return;
    root.creditsAutoFetch = getJson(root.dataset.autoTopupUrl).then(function (a) {
      showAuto(root, a.status === 200 ? a.body : null);
    }, function () { showAuto(root, null); }).then(function () { root.creditsAutoFetch = null; });
  }
  function setupAuto(root) {
    var section = $(root, "[data-credits-auto]");
    if (!root.dataset.autoTopupUrl) return;
    loadAuto(root); // one small request per page: the notice when it was turned off
    if (!section) return;
    var toggle = $(section, "[data-credits-auto-toggle]"), body = $(section, "[data-credits-auto-body]");
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      body.hidden = !open;
      if (open) loadAuto(root);
      place();
      if (open && body.scrollIntoView) body.scrollIntoView({block: "nearest"}); // the panel may scroll
    });
    var form = $(section, "[data-credits-auto-form]");
    var status = $(section, "[data-credits-auto-status]"), alert = $(section, "[data-credits-auto-error]");
    form.addEventListener("input", function () { section.creditsAutoEditing = true; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {enabled: $(form, "[data-auto-field=enabled]").checked}, problem = null;
      ["thresholdCents", "amountCents", "monthlyCapCents"].forEach(function (name) {
        var input = $(form, "[data-auto-field=" + name + "]"), value = input.value.trim();
        var bad = !/^\d+$/.test(value);
        input.setAttribute("aria-invalid", String(bad));
        if (bad && !problem) problem = input;
        body[name] = bad ? null : Number(value) * 100;
      });
      status.textContent = "";
      alert.textContent = "";
      if (problem) { alert.textContent = autoText(section, "invalid"); problem.focus(); return; }
      status.textContent = autoText(section, "saving");
      fetch(root.dataset.autoTopupUrl, {
        method: "PUT",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(root)},
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (b) { return {status: r.status, body: b}; });
      }).then(function (a) {
        if (a.status === 200) {
          section.creditsAutoEditing = false;
          showAuto(root, a.body);
          status.textContent = autoText(section, "saved");
        } else {
          status.textContent = "";
          alert.textContent = (a.body && a.body.error) || autoText(section, "error");
        }
      }, function () { status.textContent = ""; alert.textContent = autoText(section, "unsaved"); });
    });
  }

  /* --- wiring ---------------------------------------------------------------------------- */
  function setup(root) {
    if (root.creditsReady) return;
    root.creditsReady = true;
    balanceUrl = balanceUrl || root.dataset.balanceUrl;
    recentUrl = recentUrl || root.dataset.recentUrl || "";
    var text = texts(root);
    all(root, "[data-credits-form]").forEach(function (form) {
      form.noValidate = true; // the script says what is wrong, in the live region
      setupConfirm(root, form);
      form.addEventListener("click", function (event) { form.creditsClicked = event.target.closest("button"); });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = event.submitter || form.creditsClicked, input = $(form, "input[type=number]");
        if (!input) return topup(root, Number(button.dataset.amountCents), button);
        var value = input.value.trim(), dollarsWanted = Number(value);
        // A negative or out-of-range amount says the range; anything else not whole, whole dollars.
        var problem = value !== "" && !isNaN(dollarsWanted) &&
            (dollarsWanted < Number(input.min) || dollarsWanted > Number(input.max)) ? text.range
          : !/^\d+$/.test(value) ? text.invalid : "";
        input.setAttribute("aria-invalid", String(!!problem));
        if (problem) { say(root, "alert", problem); input.focus(); return; }
        var cents = dollarsWanted * 100, confirmAbove = Number(root.dataset.confirmAbove || 0);
        if (confirmAbove > 0 && cents >= confirmAbove) return askFirst(root, form, cents);
        topup(root, cents, button || $(form, "button"));
      });
    });
    var toggle = $(root, ".credits-toggle"), panel = $(root, ".credits-panel");
    if (toggle && panel) setupMenu(root, toggle, panel);
    setupAuto(root);
    recall(root);
  }

  // A large amount asks "Add $1,000 to the team's credits?" before anything is sent.
  function askFirst(root, form, cents) {
    var box = $(form, "[data-credits-confirm]");
    if (!box) return topup(root, cents, $(form, "button"));
    say(root, "status", "");
    $(box, "[data-credits-confirm-text]").textContent = fill(texts(root).confirm, {amount: dollars(cents)});
    box.creditsCents = cents;
    box.hidden = false;
    $(box, "[data-credits-confirm-yes]").focus();
  }
  function setupConfirm(root, form) {
    var box = $(form, "[data-credits-confirm]");
    if (!box) return;
    function close() { box.hidden = true; box.creditsCents = 0; }
    $(box, "[data-credits-confirm-yes]").addEventListener("click", function () {
      var cents = box.creditsCents;
      close();
      if (cents) topup(root, cents, $(form, "button[type=submit]"));
      $(form, "input[type=number]").focus();
    });
    $(box, "[data-credits-confirm-no]").addEventListener("click", function () {
      close();
      $(form, "input[type=number]").focus();
    });
    $(form, "input[type=number]").addEventListener("input", close);
  }

  function setupMenu(root, toggle, panel) {
    function open() {
      toggle.setAttribute("aria-expanded", "true");
      panel.hidden = false;
      place();
      if (recentStale || !$(root, ".credits-item")) loadRecent();
      else pollRecent(true);
      loadBalance();
      loadAuto(root);
      var first = $(panel, "button:not([hidden])");
      if (first) first.focus();
    }
    function close(refocus) {
      if (panel.hidden) return;
      toggle.setAttribute("aria-expanded", "false");
      panel.hidden = true;
      pollRecent(); // a closed menu alone polls no more
      if (refocus) toggle.focus();
    }
    function focusInside() {
      var active = document.activeElement;
      return !!active && (active === toggle || panel.contains(active));
    }
    toggle.addEventListener("click", function () { if (panel.hidden) open(); else close(false); });
    // Escape closes the open panel wherever focus is; focus goes back to the toggle only
    // from inside the panel (or from the toggle), never away from where the user is.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || panel.hidden) return;
      var inside = focusInside();
      if (inside) event.preventDefault();
      close(inside);
    });
    document.addEventListener("click", function (event) {
      if (panel.hidden || panel.contains(event.target) || toggle.contains(event.target)) return;
      var active = document.activeElement;
      close(!active || active === document.body || panel.contains(active));
    });
  }

  function scan() {
    all(document, "[data-credits]").forEach(setup);
    if (balanceUrl && !lastBalance) loadBalance();
  }

  // Asked for because something changed (an agent's answer, a top-up elsewhere): never lost
  // to a fetch already under way, which may have been answered before the change.
  function refresh() { return loadBalance(true); }
  window.reefCredits = {scan: scan, refresh: refresh, options: options};
  document.addEventListener("credits:refresh", refresh);
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
