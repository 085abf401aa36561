(function () {
  "use strict";
  var el = document.getElementById("map");
  var cfg = JSON.parse(document.getElementById("map-config").textContent);
  var datum = window.CityGridDatum(cfg.tileDatum), C = window.CityGrid;
  L.Icon.Default.imagePath = "";  // the marker images by their served (hashed) names
  L.Icon.Default.mergeOptions(cfg.markerIcons);
  var map = L.map(el, { preferCanvas: true }).setView([27.86, 112.93], 12);
  window.cityGridMap = map;  // for the browser tests and the console
  // When tiles cannot load (an intranet without a tile server) the grid still draws on the plain background.
  L.tileLayer(cfg.tileUrl, { attribution: cfg.tileAttribution, maxZoom: 19 }).addTo(map);

  var styles = {
    district: { color: "#0b3d63", weight: 3, fill: false },
    street: { color: "#1f78b4", weight: 2, fill: false, dashArray: "6 4" },
    community: { color: "#33a02c", weight: 1.5, fillOpacity: 0.04 },
    cell: { color: "#ff7f00", weight: 1, fillOpacity: 0.05 }
  };
  var layers = {};
  var loaded = ["district", "street", "community"].map(function (level) {
    layers[level] = L.geoJSON(null, {
      style: styles[level],
      onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name); }
    }).addTo(map);
    return C.features(el.dataset.apiAreas + "?level=" + level + "&zoom=14&page_size=2000", datum)
      .then(function (fc) { layers[level].addData(fc); });
  });
  Promise.all(loaded).catch(function () { /* a level refused or offline: the others still show */ }).then(function () {
    if (layers.district.getLayers().length) map.fitBounds(layers.district.getBounds(), { maxZoom: 13 });
    el.dataset.ready = "1";
  });
  // Cells from the vector tiles where the page has them (tiles.js), otherwise as GeoJSON for the view.
  var cellTiles = C.tiles && C.tiles.url(cfg, "cells");
  var cells = (cellTiles ? C.tiles.layer(cellTiles, "cells", { style: L.extend({ fill: true }, styles.cell),
                                                               minZoom: 15 })  // as the page says
    : L.geoJSON(null, { style: styles.cell, interactive: false })).addTo(map);
  window.cityGridCells = cells;
  // Named as the page reads (区县, 街道, 社区, 网格; the census below joins them)
  var overlays = {};
  overlays[el.dataset.labelDistrict] = layers.district;
  overlays[el.dataset.labelStreet] = layers.street;
  overlays[el.dataset.labelCommunity] = layers.community;
  overlays[el.dataset.labelCell] = cells;
  var layerControl = L.control.layers(null, overlays).addTo(map);

  var loadingCells = null;
  function refreshCells() {
    if (cellTiles) return;
    if (map.getZoom() < 15) { loadingCells = null; cells.clearLayers(); return; }
    var b = map.getBounds(), sw = datum.toStored(b.getSouthWest()), ne = datum.toStored(b.getNorthEast());
    var url = el.dataset.apiCells + "?page_size=2000&zoom=" + map.getZoom() + "&bbox=" + [sw[0], sw[1], ne[0], ne[1]].join(",");
    loadingCells = url;
    C.features(url, datum).then(function (fc) {
      if (loadingCells !== url) return;
      cells.clearLayers();
      cells.addData(fc);
    }).catch(function () { /* offline or refused: the cells shown stay */ });
  }
  map.on("moveend", refreshCells);

  var marker = null, highlight = L.geoJSON(null, { style: { color: "#e31a1c", weight: 3, fillOpacity: 0.15 } }).addTo(map);
  var out = document.getElementById("located");
  function esc(v) { var d = document.createElement("div"); d.textContent = v === undefined || v === null ? "" : v; return d.innerHTML; }
  function row(label, ref) { return ref ? "<tr><th>" + esc(label) + "</th><td>" + esc(ref.name) + " " + esc(ref.code) + "</td></tr>" : ""; }
  map.on("click", function (e) {
    var p = datum.toStored(e.latlng);
    if (marker) marker.remove();
    marker = L.marker(e.latlng).addTo(map);
    highlight.clearLayers();
    fetch(el.dataset.apiLocate + "?lon=" + p[0].toFixed(7) + "&lat=" + p[1].toFixed(7), { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        var b = res.body;
        if (!res.ok) { out.innerHTML = "<p class='error'></p>"; out.firstChild.textContent = b.detail || "error"; return; }
        var label = el.dataset;  // in the page's language
        out.innerHTML = "<table>" + row(label.labelCell, b.cell) + row(label.labelCommunity, b.community) +
          row(label.labelStreet, b.street) + row(label.labelDistrict, b.district) + row(label.labelCity, b.city) + "</table>";
        out.setAttribute("data-cell", b.cell ? b.cell.code : "");
        if (b.cell) {
          fetch(el.dataset.apiCells + b.cell.code + "/", { credentials: "same-origin" }).then(function (r) { return r.json(); })
            .then(function (f) { f.geometry = datum.geometry(f.geometry); highlight.addData(f); });
        }
      });
  });
  // The census components, from a zoom where they are readable, for those who may read them.
  if (cfg.apiComponents && window.CityGrid && window.CityGrid.componentLayer) {
    window.cityGridCensus = window.CityGrid.componentLayer(map, cfg.apiComponents, datum, {
      tiles: C.tiles && C.tiles.url(cfg, "components"), minZoom: cfg.tileMinZoom && cfg.tileMinZoom.components });
    // a dense census hides the cells under it: it can be switched off
    layerControl.addOverlay(window.cityGridCensus.layer, el.dataset.labelComponents);
  }
})();
