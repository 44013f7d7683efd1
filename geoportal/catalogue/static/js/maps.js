// The Leaflet maps of pygeoapi's pages, configured by data-* attributes (no inline script).
(function () {
  "use strict";

  function baseMap(element) {
    var map = L.map(element).setView([0, 0], 1);
    map.addLayer(new L.TileLayer(element.dataset.tiles, {
      maxZoom: 18,
      attribution: element.dataset.attribution
    }));
    return map;
  }

  function link(href, text) {
    var anchor = document.createElement("a");
    anchor.href = href;
    anchor.textContent = text;
    return anchor;
  }

  // Ctrl + drag draws a rectangle; a click on it shows its bbox query parameter.
  function bboxPicker(map) {
    var first = null, drawing = false, current = null, box = null;
    map.on("mousedown", function (e) {
      if (e.originalEvent.ctrlKey) {
        if (box && map.hasLayer(box)) { map.removeLayer(box); }
        map.dragging.disable();
        first = e.latlng;
        drawing = true;
      } else if (box && map.hasLayer(box) && !box.getBounds().contains(e.latlng)) {
        map.removeLayer(box);
      }
    });
    map.on("mousemove", function (e) {
      if (!drawing) { return; }
      if (current && map.hasLayer(current)) { map.removeLayer(current); }
      current = L.rectangle([first, e.latlng], {dashArray: "4 1", weight: 0.4}).addTo(map);
    });
    map.on("mouseup", function (e) {
      if (current && map.hasLayer(current)) { map.removeLayer(current); }
      if (e.originalEvent.ctrlKey && drawing) {
        box = L.rectangle([first, e.latlng], {color: "#ff7800", weight: 1}).addTo(map);
      }
      drawing = false;
      map.dragging.enable();
    });
    map.on("click", function () {
      if (box && map.hasLayer(box)) {
        var text = document.createElement("span");
        text.textContent = "bbox=" + box.getBounds().toBBoxString();
        L.popup({maxWidth: "auto"}).setLatLng(box.getBounds().getCenter())
          .setContent(text).addTo(map);
      }
    });
  }

  function collectionMap(element) {
    var map = baseMap(element);
    JSON.parse(element.dataset.wms || "[]").forEach(function (href) {
      L.tileLayer.wms(href, {opacity: 0.7, transparent: true, crs: L.CRS.EPSG4326}).addTo(map);
    });
    var b = JSON.parse(element.dataset.bbox);  // minx, miny, maxx, maxy
    var extent = L.polygon([[b[1], b[0]], [b[3], b[0]], [b[3], b[2]], [b[1], b[2]]]);
    map.addLayer(extent);
    map.fitBounds(extent.getBounds(), {maxZoom: 10});
    bboxPicker(map);
  }

  function itemsMap(element) {
    var map = baseMap(element);
    var titleField = element.dataset.titleField;
    var items = new L.GeoJSON(JSON.parse(element.dataset.features), {
      onEachFeature: function (feature, layer) {
        var title = titleField ? feature.properties[titleField] : feature.id;
        var popup = document.createElement("span");
        popup.appendChild(link(element.dataset.itemsPath + "/" + encodeURIComponent(feature.id)
                               + "?f=html", String(title)));
        layer.bindPopup(popup);
      }
    });
    var markers = L.markerClusterGroup({
      disableClusteringAtZoom: 9, chunkedLoading: true, chunkInterval: 500
    });
    markers.clearLayers().addLayer(items);
    map.addLayer(markers);
    map.fitBounds(items.getBounds());
  }

  function itemMap(element) {
    var map = baseMap(element);
    var item = new L.GeoJSON(JSON.parse(element.dataset.feature));
    map.addLayer(item);
    map.fitBounds(item.getBounds(), {maxZoom: 15});
  }

  function start() {
    document.querySelectorAll("[data-map]").forEach(function (element) {
      var kind = element.dataset.map;
      if (kind === "collection") { collectionMap(element); }
      else if (kind === "items") { itemsMap(element); }
      else if (kind === "item") { itemMap(element); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
