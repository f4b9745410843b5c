/* Supply Ledger console: small progressive enhancements of our own. Every form works without
   this file; with it, a form cannot be sent twice by a double click, a refusal gets the
   keyboard focus, and a destructive button asks first. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once")) { return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    if (form.dataset.sent === "yes") { event.preventDefault(); return; }
    form.dataset.sent = "yes";
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.setAttribute("aria-busy", "true");
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var problem = document.querySelector(".problem[role=alert]");
    if (problem) {
      var field = problem.closest("form") && problem.closest("form").querySelector("[aria-invalid=true]");
      (field || problem).focus();
    }
  });
})();
