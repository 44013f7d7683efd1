// Embeds the JSON-LD representation of the page for search engines (was inline in _base.html).
(function () {
  "use strict";
  var xhr = new XMLHttpRequest();
  xhr.open("GET", window.location.pathname + "?f=jsonld");
  xhr.onload = function () {
    if (xhr.status !== 200) {
      return;
    }
    var block = document.createElement("script");
    block.type = "application/ld+json";  // a data block: never executed, allowed by the CSP
    // search engines do not expect the full context path; pyld needs it
    block.textContent = xhr.responseText.replace("docs/jsonldcontext.jsonld", "");
    document.head.appendChild(block);
  };
  xhr.send();
})();
