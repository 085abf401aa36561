// The tracking page's small map: the case where the city publishes it (a cell's or a street's point, or the
// exact point), nothing else.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  if (!cfg.point) return;
  var map = C.baseMap(document.getElementById("map"), cfg, { zoomControl: false, dragging: true });
  window.cityGridMap = map;
  var shown = datum.toDisplay(cfg.point[0], cfg.point[1]);
  L.circleMarker(shown, { radius: 10, color: "#0b3d63", weight: 3, fillColor: "#ffb300", fillOpacity: 0.9 }).addTo(map);
  map.setView(shown, 16);
  document.getElementById("map").dataset.ready = "1";
})();
