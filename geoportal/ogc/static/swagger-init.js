// Starts Swagger UI on the element that names its OpenAPI document (no inline script: CSP).
(function () {
  var element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: element.dataset.specUrl, dom_id: "#swagger-ui",
    deepLinking: true, presets: [SwaggerUIBundle.presets.apis] });
})();
