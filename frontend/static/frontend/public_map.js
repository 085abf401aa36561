// The public map of recent cases (FixMyStreet-like): the published cases of the last days, each where the
// publication rule puts it, clustered; the newest in a list beside. Only the public's own endpoint is read.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text;
  var map = C.baseMap($("map"), cfg);
  window.cityGridMap = map;
  var clusters = L.markerClusterGroup({ maxClusterRadius: 45, animate: false }).addTo(map);
  var markers = {}, fitted = false;

  function when(iso) { return (iso || "").slice(0, 10); }
  function load() {
    var params = new URLSearchParams();
    new FormData($("filters")).forEach(function (v, k) { if (v) params.append(k, v); });
    $("map").dataset.ready = "0";
    return C.api(cfg.apiCases + "?" + params.toString()).then(function (r) {
      if (!r.ok) return;
      clusters.clearLayers();
      markers = {};
      var features = r.data.features;
      features.forEach(function (f) {
        var p = f.properties, c = f.geometry.coordinates;
        markers[f.id] = L.circleMarker(datum.toDisplay(c[0], c[1]), { radius: 8, weight: 2, color: "#fff",
          fillColor: p.open ? "#e65100" : "#2e7d32", fillOpacity: 0.9 })
          .bindPopup("<strong>" + C.esc(p.category_name) + "</strong><br>" + C.esc(p.status_label) + " · " +
            C.esc(text.reported) + " " + C.esc(when(p.created_at)) + "<br>" + C.esc(p.place) +
            (p.description ? "<br>" + C.esc(p.description) : ""))
          .addTo(clusters);
      });
      $("count").textContent = features.length + (r.data.limited ? "+" : "");  // the newest MAP_MAX only
      $("recent").innerHTML = features.length ? features.slice(0, 30).map(function (f) {
        var p = f.properties;
        return '<li class="card ' + (p.open ? "open" : "closed") + '" data-number="' + C.esc(f.id) + '"><strong>' +
          C.esc(p.category_name) + "</strong> <span class='status'>" + C.esc(p.status_label) + "</span><br><small>" +
          C.esc(when(p.created_at)) + " · " + C.esc(p.place) + "</small></li>";
      }).join("") : "<li>" + C.esc(text.none) + "</li>";
      if (features.length && !fitted) {  // the first answer frames the map; later filters keep the view
        fitted = true;
        map.fitBounds(clusters.getBounds(), { maxZoom: 15, padding: [20, 20] });
      }
      $("map").dataset.ready = "1";
      $("map").dataset.points = String(features.length);
    });
  }
  $("recent").addEventListener("click", function (e) {
    var li = e.target.closest("[data-number]");
    if (!li) return;
    var m = markers[li.dataset.number];
    if (!m) return;
    // zoomToShowLayer calls back only once the zoom has ended, and not at all when the map is still busy
    // with an earlier move: then the popup opens at the case's place anyway, the map following. Whichever
    // comes first opens it, once: the marker's own popup opened late would close the one already shown, and on
    // a slow phone the marker may still be inside a cluster then, leaving no popup at all.
    var opened = false;
    function open(show) { if (!opened) { opened = true; show(); } }
    clusters.zoomToShowLayer(m, function () { open(function () { m.openPopup(); }); });
    setTimeout(function () {
      open(function () { L.popup().setLatLng(m.getLatLng()).setContent(m.getPopup().getContent()).openOn(map); });
    }, 1500);
  });
  $("filters").addEventListener("change", load);
  load();
})();
