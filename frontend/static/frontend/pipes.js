// The console's census and pipe tools: the components and pipes in view (from a readable zoom), and four map
// tools — what is under here (a click, 5 m around), what lies along a planned dig (a line drawn click by click,
// double-click to finish: 5 m either side), which valves to close for a burst (a click on a water or gas
// segment) and what is downstream of a blocked sewer or storm segment (a click on it).
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("pipes-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var map = window.cityGridMap, text = cfg.text;
  var $ = function (id) { return document.getElementById(id); };
  var KIND_COLOURS = { water: "#1f78b4", storm: "#33a02c", sewer: "#8c510a", gas: "#ff7f00", heat: "#e31a1c",
                       power: "#6a3d9a", telecom: "#fb9a99", industrial: "#555555" };
  var mode = "", ticket = 0;
  var result = $("pipe-result");
  var highlight = L.layerGroup().addTo(map);
  var pipes = L.geoJSON(null, {
    style: function (f) { return { color: KIND_COLOURS[f.properties.network_kind] || "#555", weight: 4, opacity: 0.8 }; },
    pointToLayer: function (f, latlng) {
      var valve = f.properties.kind === "valve";
      return L.circleMarker(latlng, { radius: valve ? 5 : 4, weight: 2, color: valve ? "#000" : "#fff",
                                      fillColor: KIND_COLOURS[f.properties.network_kind] || "#555", fillOpacity: 1 });
    },
    onEachFeature: function (f, l) {
      l.on("click", function (e) {
        if (f.properties.layer !== "segment" || (mode !== "isolate" && mode !== "flow")) return;
        L.DomEvent.stop(e);
        if (mode === "isolate") isolate(f.properties.code); else downstream(f.properties.code);
      });
    }
  }).addTo(map);
  window.cityGridCensus = C.componentLayer(map, cfg.apiComponents, datum, {
    tiles: C.tiles && C.tiles.url(cfg, "components"), minZoom: cfg.tileMinZoom && cfg.tileMinZoom.components });
  var view = 0;  // the latest view asked for: an answer for an earlier one (the map moved meanwhile) is dropped
  function refresh() {
    var b = map.getBounds(), sw = datum.toStored(b.getSouthWest()), ne = datum.toStored(b.getNorthEast());
    var mine = ++view;
    window.cityGridPipesLoaded = -1;  // loading (tests wait for the view's own count)
    C.api(cfg.apiPipes + "?zoom=" + map.getZoom() + "&bbox=" + [sw[0], sw[1], ne[0], ne[1]].map(function (v) {
      return v.toFixed(6); }).join(",")).then(function (r) {
      if (!r.ok || mine !== view) return;
      pipes.clearLayers();
      r.data.features.forEach(function (f) { f.geometry = datum.geometry(f.geometry); });
      pipes.addData(r.data);
      window.cityGridPipesLoaded = r.data.features.length;
    });
  }
  map.on("moveend", refresh);
  refresh();

  // ---- the tool buttons
  document.querySelectorAll("[data-pipe-tool]").forEach(function (b) {
    b.addEventListener("click", function () {
      mode = mode === b.dataset.pipeTool ? "" : b.dataset.pipeTool;
      document.querySelectorAll("[data-pipe-tool]").forEach(function (o) {
        o.setAttribute("aria-pressed", String(o.dataset.pipeTool === mode));
      });
      map.getContainer().style.cursor = mode ? "crosshair" : "";
      show(mode ? '<p class="hint">' + C.esc(text.hint[mode]) + "</p>" : "");
      highlight.clearLayers();
      drawn = [];
      // A double-click ends the line rather than zooming in, while the line tool is on.
      if (mode === "line") map.doubleClickZoom.disable(); else map.doubleClickZoom.enable();
    });
  });
  function show(html) { result.innerHTML = html; result.hidden = !html; }
  var drawn = [];  // the line tool's vertices, as displayed
  map.on("click", function (e) {
    if (mode === "line") {
      drawn.push(e.latlng);
      highlight.clearLayers();
      L.polyline(drawn, { color: "#e31a1c", weight: 3, dashArray: "6 4" }).addTo(highlight);
      return;
    }
    if (mode !== "under") return;
    var p = datum.toStored(e.latlng);
    highlight.clearLayers();
    L.circle(e.latlng, { radius: cfg.underRadius, color: "#e31a1c", weight: 2, fillOpacity: 0.1 }).addTo(highlight);
    under("lon=" + p[0].toFixed(7) + "&lat=" + p[1].toFixed(7));
  });
  map.on("dblclick", function () {
    if (mode !== "line" || drawn.length < 2) return;
    var line = drawn.map(function (ll) { var p = datum.toStored(ll); return p[0].toFixed(7) + "," + p[1].toFixed(7); });
    drawn = [];
    under("line=" + encodeURIComponent(line.join(";")));
  });
  function under(where) {
    var mine = ++ticket;
    C.api(cfg.apiUnder + "?radius=" + cfg.underRadius + "&" + where).then(function (r) {
      if (mine !== ticket) return;
      if (!r.ok) { show('<p class="error">' + C.esc(C.errorsText(r.data)) + "</p>"); return; }
      var rows = r.data.segments.map(function (s) {
        return '<li data-segment="' + C.esc(s.code) + '"><b>' + C.esc(text.kinds[s.network_kind] || "") + "</b> " +
          C.esc(s.material || "") + " DN" + C.esc(s.diameter_mm || "?") + " · " + C.esc(text.depth) + " " +
          C.esc(s.depth_m === null ? "?" : s.depth_m) + " m · " + C.esc(s.owner || "") + " · " + C.esc(s.distance_m) + " m</li>";
      }).concat(r.data.points.map(function (pt) {
        return '<li data-point="' + C.esc(pt.code) + '">' + C.esc(text.kinds[pt.network_kind] || "") + " " +
          C.esc(text.points[pt.kind] || "") + " " + C.esc(pt.code) + " · " + C.esc(pt.distance_m) + " m</li>";
      }));
      show("<h3>" + C.esc(text.underTitle) + "</h3>" + (rows.length ? '<ul class="pipe-list">' + rows.join("") + "</ul>"
        : "<p>" + C.esc(text.nothingUnder) + "</p>"));
    });
  }
  function isolate(code) {
    var mine = ++ticket;
    C.api(cfg.apiSegments + encodeURIComponent(code) + "/isolation").then(function (r) {
      if (mine !== ticket) return;
      if (!r.ok) { highlight.clearLayers(); show('<p class="error">' + C.esc(C.errorsText(r.data)) + "</p>"); return; }
      showIsolation(r.data);
    });
  }
  // Also for the case panel: a case about a hydrant shows the valves a burst there closes (console.js).
  function showIsolation(data) {
    highlight.clearLayers();
    var cut = {};
    data.segments.forEach(function (s) { cut[s] = true; });
    pipes.eachLayer(function (l) {
      if (l.feature.properties.layer === "segment" && cut[l.feature.properties.code]) {
        L.polyline(l.getLatLngs(), { color: "#e31a1c", weight: 8, opacity: 0.6, interactive: false }).addTo(highlight);
      }
    });
    data.valves.forEach(function (v) {
      L.circleMarker(datum.toDisplay(v.lon, v.lat), { radius: 9, color: "#e31a1c", weight: 3, fillColor: "#fff",
                                                       fillOpacity: 1, interactive: false }).addTo(highlight);
    });
    show("<h3>" + C.esc(text.isolateTitle) + " " + C.esc(data.segment) + "</h3><p>" + C.esc(text.valvesToClose) +
      ' <b id="valve-count">' + data.valves.length + '</b></p><ul class="pipe-list valves">' + data.valves.map(function (v) {
        return '<li data-valve="' + C.esc(v.code) + '">' + C.esc(v.code) + "</li>"; }).join("") +
      "</ul><p>" + C.esc(text.segmentsCut) + " " + data.segments.length + " · " + C.esc(data.length_m) + " m · " +
      C.esc(text.customers) + ' <b id="customers">' + data.customers + "</b></p>");
  }
  // A case opened while a tool is in use leaves the tool's answer on screen.
  window.cityGridShowIsolation = function (data) { if (!mode) showIsolation(data); };
  function downstream(code) {
    var mine = ++ticket;
    C.api(cfg.apiSegments + encodeURIComponent(code) + "/flow?direction=down").then(function (r) {
      if (mine !== ticket) return;
      highlight.clearLayers();
      if (!r.ok) { show('<p class="error">' + C.esc(C.errorsText(r.data)) + "</p>"); return; }
      var down = {};
      r.data.segments.forEach(function (s) { down[s.code] = true; });
      pipes.eachLayer(function (l) {
        if (l.feature.properties.layer === "segment" && down[l.feature.properties.code]) {
          L.polyline(l.getLatLngs(), { color: "#6a3d9a", weight: 8, opacity: 0.6, interactive: false }).addTo(highlight);
        }
      });
      show("<h3>" + C.esc(text.flowTitle) + " " + C.esc(code) + '</h3><ul class="pipe-list">' + r.data.points.map(function (p) {
        return '<li data-point="' + C.esc(p.code) + '">' + C.esc(p.code) + " · " + C.esc(p.along_m) + " m</li>"; }).join("") + "</ul>");
    });
  }
})();
