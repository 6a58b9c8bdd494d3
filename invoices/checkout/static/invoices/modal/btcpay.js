/* FlashPay's modal checkout for shop pages: BTCPay's window.btcpay API (served at /modal/btcpay.js).
 *
 * A shop page loads this script from the FlashPay server and calls btcpay.showInvoice(invoiceId):
 * the invoice's checkout opens in a full-window iframe (/i/<id>?view=modal). The checkout posts
 * "loaded" once it can be shown, { invoiceId, status } whenever the invoice's status changes
 * ("New", "Processing", "Settled", "Expired", "Invalid"), and "close" when the buyer closes it.
 * Messages from any other window or origin are ignored.
 */
(function () {
  "use strict";
  if (window.btcpay) {
    if (window.console && window.console.warn) { window.console.warn("btcpay.js is loaded twice; the first one stays"); }
    return;
  }
  var SCRIPT_PATH = /\/modal\/btcpay\.js(\?.*)?$/;

  function stripSlashes(url) { return String(url).replace(/\/+$/, ""); }

  // The server's root: where this script came from, unless the page says otherwise.
  var prefix = "";
  var me = document.currentScript;
  if (!me) {
    for (var i = 0; i < document.scripts.length; i++) {
      if (SCRIPT_PATH.test(document.scripts[i].src)) { me = document.scripts[i]; }
    }
  }
  if (me && SCRIPT_PATH.test(me.src)) { prefix = me.src.replace(SCRIPT_PATH, ""); }

  function serverOrigin() {
    try { return new URL(prefix).origin; } catch (e) { return null; }
  }

  var frame = document.createElement("iframe");
  frame.name = "btcpay";
  frame.className = "btcpay";
  frame.title = "Checkout";
  frame.setAttribute("allow", "clipboard-read; clipboard-write");
  var look = { display: "none", border: "0", position: "fixed", top: "0", left: "0", width: "100%", height: "100%", zIndex: "2000" };
  for (var key in look) { frame.style[key] = look[key]; }

  var showing = false;
  var onEnter = function () {};
  var onLeave = function () {};
  var onMessage = function () {};

  function attached() { return frame.parentNode === document.body; }

  function showFrame() {
    if (!attached()) { document.body.appendChild(frame); }
    onEnter();
    frame.style.display = "block";
  }

  function hideFrame() {
    onLeave();
    frame.style.display = "none";
    showing = false;
    if (attached()) { document.body.removeChild(frame); }
  }

  function invoiceUrl(invoiceId, params) {
    var method = typeof params === "string" ? params : (params && params.paymentMethodId) || null;
    var url = prefix + "/i/" + encodeURIComponent(invoiceId);
    if (method) { url += "/" + encodeURIComponent(method); }
    url += "?view=modal";
    if (params && typeof params === "object" && params.animateEntrance === false) { url += "&animateEntrance=false"; }
    return url;
  }

  // Opens the invoice; the frame shows itself when the checkout says "loaded".
  function appendInvoiceFrame(invoiceId, params) {
    showing = true;
    if (!attached()) { document.body.appendChild(frame); }
    frame.src = invoiceUrl(invoiceId, params);
  }

  function appendAndShowInvoiceFrame(invoiceId, params) {
    appendInvoiceFrame(invoiceId, params);
    showFrame();
  }

  function receiveMessage(event) {
    if (!showing || event.source !== frame.contentWindow || event.origin !== serverOrigin()) { return; }
    var data = event.data;
    if (data === "close") {
      hideFrame();
    } else if (data === "loaded") {
      showFrame();
    } else if (data && typeof data === "object" && typeof data.open === "string" && /^(bitcoin|lightning):/i.test(data.open)) {
      window.location = data.open;  // a wallet link the checkout cannot open from inside the frame
    }
    onMessage(event);
  }

  window.addEventListener("message", receiveMessage, false);

  window.btcpay = {
    showFrame: showFrame,
    hideFrame: hideFrame,
    showInvoice: appendInvoiceFrame,
    appendInvoiceFrame: appendInvoiceFrame,
    appendAndShowInvoiceFrame: appendAndShowInvoiceFrame,
    onModalWillEnter: function (callback) { onEnter = callback; },
    onModalWillLeave: function (callback) { onLeave = callback; },
    onModalReceiveMessage: function (callback) { onMessage = callback; },
    setApiUrlPrefix: function (urlPrefix) { prefix = stripSlashes(urlPrefix); }
  };
})();
