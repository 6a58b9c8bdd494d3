/* The API-key authorization's hand-over: POST the key to the application's redirect address (as BTCPay does). */
(function () {
  "use strict";
  var form = document.getElementById("post-redirect");
  if (form) { form.submit(); }
})();
