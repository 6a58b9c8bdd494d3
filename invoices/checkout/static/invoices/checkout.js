/* Hosted checkout: countdown, QR tabs, copy buttons, live status by polling (no reload), redirect. */
(function () {
  "use strict";
  var root = document.getElementById("checkout");
  if (!root) { return; }
  var panelBox = document.getElementById("panel");
  var live = document.getElementById("status");
  var copyNote = document.getElementById("copy-note");
  var POLL_MS = 2000;
  var FINAL = { settled: true, invalid: true };
  var redirecting = false;
  // Shown inside a shop's page by /modal/btcpay.js: tell it what happens (BTCPay's messages).
  var embedded = window.parent !== window;
  var modal = root.getAttribute("data-modal") === "true";
  var invoiceId = root.getAttribute("data-invoice-id");
  var lastStatus = root.getAttribute("data-invoice-status");

  function tellShop(message) {
    if (embedded) { window.parent.postMessage(message, "*"); }
  }

  function screen() { return document.getElementById("screen"); }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function tick() {
    var el = document.getElementById("countdown");
    if (!el) { return; }
    var left = Math.max(0, parseInt(el.getAttribute("data-expires"), 10) - Math.floor(Date.now() / 1000));
    // BTCPay's displayExpirationTimer: the countdown shows only in the last N seconds
    el.parentNode.hidden = left > parseInt(el.getAttribute("data-display"), 10);
    if (left === 0) {
      el.textContent = el.getAttribute("data-over");
      el.parentNode.classList.add("over");
      // Time is up even if the server's expiry run has not caught up yet: stop offering the QR
      // so nobody pays an expired invoice (that money would need a refund).
      var s = screen();
      if (!s.classList.contains("time-up")) {
        s.classList.add("time-up");
        live.textContent = el.getAttribute("data-expired-text");
      }
      return;
    }
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  function selectTab(tab) {
    var tabs = screen().querySelectorAll('[role="tab"]');
    for (var i = 0; i < tabs.length; i++) {
      var on = tabs[i] === tab;
      tabs[i].setAttribute("aria-selected", on ? "true" : "false");
      tabs[i].tabIndex = on ? 0 : -1;
      document.getElementById(tabs[i].getAttribute("aria-controls")).hidden = !on;
    }
  }

  function copyWithSelection(text) {
    // Plain-HTTP pages (and browsers that refuse the async clipboard) copy a selected textarea.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return copyWithSelection(text); });
    }
    return copyWithSelection(text);
  }

  function bind() {
    var s = screen();
    var tabs = s.querySelectorAll('[role="tab"]');
    Array.prototype.forEach.call(tabs, function (tab, index) {
      tab.addEventListener("click", function () { selectTab(tab); });
      tab.addEventListener("keydown", function (event) {
        var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
        if (!step) { return; }
        var next = tabs[(index + step + tabs.length) % tabs.length];
        selectTab(next);
        next.focus();
      });
    });
    Array.prototype.forEach.call(s.querySelectorAll("button.copy"), function (button) {
      button.addEventListener("click", function () {
        var label = button.textContent;
        copyText(button.getAttribute("data-copy")).then(function () {
          button.textContent = button.getAttribute("data-done");
          copyNote.textContent = button.getAttribute("data-done");
          setTimeout(function () { button.textContent = label; copyNote.textContent = ""; }, 2000);
        }, function () { /* nothing copied: the text stays visible below the QR */ });
      });
    });
    if (modal) {
      // wallet links cannot open from inside the frame: the shop's window opens them
      Array.prototype.forEach.call(s.querySelectorAll('a[href^="bitcoin:"], a[href^="lightning:"]'), function (link) {
        link.addEventListener("click", function (event) {
          event.preventDefault();
          tellShop({ open: link.getAttribute("href") });
        });
      });
    }
    tick();
    maybeRedirect(s.getAttribute("data-redirect"));
  }

  function maybeRedirect(url) {
    // in the modal the shop's page moves on by itself when it hears the status
    if (modal || !url || redirecting || !/^https?:\/\//i.test(url)) { return; }
    redirecting = true;
    // a moment to read "paid" before leaving (BTCPay waits too)
    setTimeout(function () { window.location.assign(url); }, 1500);
  }

  function refreshPanel() {
    return fetch(root.getAttribute("data-panel-url"), { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("panel " + r.status); } return r.text(); })
      .then(function (html) {
        panelBox.innerHTML = html;
        live.textContent = screen().getAttribute("data-status-text");
        live.className = "status" + (/^(paid|settled)$/.test(screen().getAttribute("data-screen")) ? " ok" : "");
        bind();
      });
  }

  function poll() {
    fetch(root.getAttribute("data-status-url"), { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (status) {
        if (!status) { return null; }
        if (status.status && status.status !== lastStatus) {
          lastStatus = status.status;
          tellShop({ invoiceId: invoiceId, status: status.status });
        }
        var work = status.version !== screen().getAttribute("data-version") ? refreshPanel() : null;
        maybeRedirect(status.redirectURL);
        return work;
      })
      .catch(function () { /* offline for a moment: try again at the next beat */ })
      .then(function () {
        if (!FINAL[screen().getAttribute("data-screen")]) { setTimeout(poll, POLL_MS); }
      });
  }

  var close = document.getElementById("close");
  if (close) { close.addEventListener("click", function () { tellShop("close"); }); }
  bind();
  setInterval(tick, 1000);
  setTimeout(poll, POLL_MS);
  tellShop("loaded");
})();
