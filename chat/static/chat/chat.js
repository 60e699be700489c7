// The chat page without reloads. Without this script the same forms post and redirect.
(function () {
  "use strict";
  var root = document.querySelector("[data-chat]");
  if (!root) return;
  var list = root.querySelector("[data-chat-messages]");
  var log = root.querySelector("[data-chat-log]"); // the one scrolling element of the page (chat.css)
  var composer = root.querySelector("[data-chat-composer]");
  var textarea = composer.querySelector("textarea");
  var sendButton = composer.querySelector("button[type=submit]");
  var errorBox = composer.querySelector("[data-chat-error]");
  var title = root.querySelector("[data-chat-title]");
  var text = root.dataset; // the page's translated sentences: textThinking, textEmpty, textNetwork
  var busy = false;

  // Scrolls the log, and nothing else, so that node is in view: its end, or its start when it is
  // taller than the log or above it. (scrollIntoView would scroll the page around the log too.)
  function reveal(node) {
    var box = node.getBoundingClientRect(), view = log.getBoundingClientRect(), room = 8;
    var top = view.top + room, bottom = view.bottom - room;
    if (box.top < top || box.height > bottom - top) log.scrollTop += box.top - top;
    else if (box.bottom > bottom) log.scrollTop += box.bottom - bottom;
  }

  // "Continue" on a message that ran out of credits waits for a top-up.
  function holdContinue(scope) {
    scope.querySelectorAll("[data-chat-after-topup]").forEach(function (form) { form.hidden = true; });
  }
  function revealContinue(scope) {
    scope.querySelectorAll("[data-chat-after-topup]").forEach(function (form) { form.hidden = false; });
  }

  function bubble(role, text) {
    var item = document.createElement("li");
    item.className = "chat-message chat-message--" + role + " chat-message--pending";
    var article = document.createElement("article");
    article.className = "chat-bubble";
    var body = document.createElement("div");
    body.className = "chat-text";
    body.textContent = text;
    article.appendChild(body);
    item.appendChild(article);
    list.appendChild(item);
    return item;
  }

  // Puts the messages in the list; returns the last one that was not there before, if any.
  function place(fragments) {
    var last = null, added = null;
    fragments.forEach(function (fragment) {
      var template = document.createElement("template");
      template.innerHTML = fragment.html.trim();
      var node = template.content.firstElementChild;
      holdContinue(node);
      var existing = document.getElementById(fragment.id);
      if (existing) existing.replaceWith(node); else { list.appendChild(node); added = node; }
      last = node;
    });
    var empty = root.querySelector("[data-chat-empty]");
    if (empty) empty.remove();
    if (last) reveal(list.lastElementChild);
    return added;
  }

  function update(data) {
    var added = data.messages ? place(data.messages) : null;
    var conversation = data.conversation;
    if (conversation) {
      composer.action = conversation.sendUrl;
      if (location.pathname !== conversation.url) history.replaceState(null, "", conversation.url);
      title.textContent = conversation.title;
      var sidebar = root.querySelector("[data-chat-conversations]");
      if (sidebar && data.sidebar) sidebar.outerHTML = data.sidebar;
    }
    // The agent may have spent credits: the header fetches the balance again.
    document.dispatchEvent(new CustomEvent("credits:refresh"));
    return added;
  }

  // Where focus goes when the control that had it is replaced: the new message, else the composer.
  function focusAfter(message) {
    if (!message) { textarea.focus(); return; }
    message.tabIndex = -1;
    message.focus({preventScroll: true}); // place() has put it in view
  }

  function post(url, body) {
    return fetch(url, {method: "POST", body: body, credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if ((response.headers.get("Content-Type") || "").indexOf("application/json") === -1) {
          throw new Error("not json");
        }
        return response.json().then(function (data) { return {ok: response.ok, data: data}; });
      });
  }

  function failed(result) {
    errorBox.textContent = (result && result.data && result.data.error) || text.textNetwork;
  }

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    var words = textarea.value.trim();
    if (!words) { errorBox.textContent = text.textEmpty; textarea.focus(); return; }
    var body = new FormData(composer);
    busy = true;
    sendButton.disabled = true;
    errorBox.textContent = "";
    var pending = [bubble("user", words), bubble("assistant", text.textThinking)];
    reveal(pending[1]);
    post(composer.action, body).then(function (result) {
      if (!result.ok) { failed(result); return; }
      textarea.value = "";
      update(result.data);
    }).catch(function () { failed(null); }).finally(function () {
      pending.forEach(function (node) { node.remove(); });
      busy = false;
      sendButton.disabled = false;
      textarea.focus();
    });
  });

  // Enter sends, Shift+Enter starts a new line.
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  list.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-chat-continue]");
    if (!form) return;
    event.preventDefault();
    var button = form.querySelector("button");
    if (button.disabled) return;
    button.disabled = true;
    var pending = bubble("assistant", text.textThinking);
    reveal(pending);
    post(form.action, new FormData(form)).then(function (result) {
      pending.remove();
      var added = result.data.messages ? update(result.data) : null;
      if (!result.ok) failed(result);
      focusAfter(added);
    }).catch(function () {
      pending.remove();
      button.disabled = false;
      failed(null);
      if (document.contains(button)) button.focus(); else focusAfter(null);
    });
  });

  // The inline widget (or the header menu) added credits: the stopped task can go on. After a
  // top-up in a message's own widget, its Continue comes into view and, unless the user has gone
  // on elsewhere meanwhile (an outcome that settled later), takes the focus from the amount.
  document.addEventListener("credits:topped-up", function (event) {
    var target = event.target;
    var stopped = target && target.closest ? target.closest("[data-chat-stopped]") : null;
    revealContinue(stopped || list);
    var form = stopped && stopped.querySelector("[data-chat-continue]:not([hidden])");
    var button = form && form.querySelector("button");
    if (!button || button.disabled) return;
    reveal(form);
    var active = document.activeElement;
    if (!active || active === document.body || stopped.contains(active)) button.focus({preventScroll: true});
  });

  // An automatic top-up is on its way: ask for the balance every few seconds (for at most
  // ten minutes) and offer Continue as soon as it shows credits again.
  var autoTimer = 0, autoUntil = 0;
  function waiting() { return list.querySelectorAll("[data-chat-auto-topup]:not([data-landed])"); }
  function watchAutoTopup() {
    if (!waiting().length || autoTimer) return;
    autoUntil = Date.now() + 600000;
    autoTimer = setInterval(function () {
      if (!waiting().length || Date.now() > autoUntil) { clearInterval(autoTimer); autoTimer = 0; return; }
      document.dispatchEvent(new CustomEvent("credits:refresh"));
    }, Number(root.dataset.autoTopupPollMs) || 2000);
  }
  // Credits again, whoever added them (a teammate, the auto top-up, the billing page): every
  // stopped task can go on. The balance the page already refreshes is enough to know it.
  document.addEventListener("credits:balance", function (event) {
    var balance = event.detail;
    if (!balance || !(balance.remaining > 0)) return;
    waiting().forEach(function (note) {
      note.dataset.landed = "true";
      note.textContent = note.dataset.textLanded;
    });
    revealContinue(list);
  });
  new MutationObserver(watchAutoTopup).observe(list, {childList: true});

  holdContinue(list);
  watchAutoTopup();
  // The log starts at its end by itself (chat.css); this is for a browser that would not.
  if (!location.hash) log.scrollTop = log.scrollHeight;
})();
