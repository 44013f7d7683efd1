// Small behaviours of pygeoapi's pages (no inline script): the page-size select, and
// JSON shown pretty-printed from a data-json attribute.
(function () {
  "use strict";

  function start() {
    var select = document.getElementById("limits");
    if (select) {
      var params = new URL(document.location).searchParams;
      select.value = params.get("limit") || select.getElementsByTagName("option")[0].value;
      select.addEventListener("change", function (ev) {
        document.location.search = "limit=" + encodeURIComponent(ev.target.value);
      });
    }
    document.querySelectorAll("[data-json]").forEach(function (element) {
      var value = JSON.parse(element.dataset.json);
      if (typeof value === "string") {  // job parameters are stored as a JSON text
        try { value = JSON.parse(value); } catch (e) { /* shown as it is */ }
      }
      element.textContent = JSON.stringify(value, undefined, 2);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
