// The public's page of the warnings in force: each area on the map in its level's colour, the most severe first
// in the list beside, what to do, and the CAP document. Only the public's own endpoint is read; drills never
// reach it.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var text = cfg.text;
  var $ = function (id) { return document.getElementById(id); };
  var map = C.baseMap($("map"), cfg);
  window.cityGridMap = map;
  var outlines = L.geoJSON(null, { style: { color: "#1b5e20", weight: 1.2, fill: false }, interactive: false }).addTo(map);
  var areas = L.featureGroup().addTo(map), layers = {};
  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }
  function popup(p) {
    return '<strong class="level level-' + C.esc(p.level) + '">' + C.esc(p.type_name) + C.esc(p.level_label) + "</strong> " +
      C.esc(p.headline) + "<br>" + C.esc(p.area_desc) + "<br>" + C.esc(text.expires) + " " + C.esc(when(p.expires));
  }
  var fitted = false;
  function load() {
    return C.api(cfg.apiWarnings).then(function (r) {
      if (!r.ok) return;
      if (!outlines.getLayers().length) (r.data.districts || []).forEach(function (d) { outlines.addData(datum.geometry(d)); });
      areas.clearLayers();
      layers = {};
      var features = r.data.features;
      features.forEach(function (f) {
        var p = f.properties;
        layers[f.id] = L.geoJSON(datum.geometry(f.geometry), { style: { color: p.colour, weight: 2, fillOpacity: 0.3 } })
          .bindPopup(popup(p)).addTo(areas);
      });
      $("warnings").innerHTML = features.length ? features.map(function (f) {
        var p = f.properties;
        return '<li class="card warning" data-id="' + f.id + '" style="border-left-color:' + C.esc(p.colour) + '">' +
          '<span class="level level-' + C.esc(p.level) + '">' + C.esc(p.level_label) + "</span> <strong>" + C.esc(p.headline) +
          "</strong><br><small>" + C.esc(p.area_desc) + " · " + C.esc(text.issuer) + " " + C.esc(p.issuer) + "</small>" +
          "<p>" + C.esc(p.description) + "</p>" +
          (p.instruction ? '<p class="instruction"><b>' + C.esc(text.instruction) + "</b> " + C.esc(p.instruction) + "</p>" : "") +
          "<small>" + C.esc(text.effective) + " " + C.esc(when(p.effective)) + " · " + C.esc(text.expires) + " " +
          C.esc(when(p.expires)) + ' · <a href="' + C.esc(p.cap_url) + '">' + C.esc(text.cap) + "</a></small></li>";
      }).join("") : "<li>" + C.esc(text.none) + "</li>";
      if (!fitted) {  // the first answer frames the map; later ones keep the reader's view
        fitted = true;
        if (features.length) map.fitBounds(areas.getBounds(), { maxZoom: 14, padding: [20, 20] });
        else if (outlines.getLayers().length) map.fitBounds(outlines.getBounds());
      }
      $("map").dataset.ready = "1";
      $("map").dataset.warnings = String(features.length);
    });
  }
  load();
  setInterval(load, 60000);  // a warning issued or lifted shows within a minute, without a reload
  $("warnings").addEventListener("click", function (e) {
    var li = e.target.closest("[data-id]");
    if (!li || e.target.closest("a") || !layers[li.dataset.id]) return;
    var layer = layers[li.dataset.id];
    map.fitBounds(layer.getBounds(), { maxZoom: 14 });
    layer.openPopup();
  });
})();
