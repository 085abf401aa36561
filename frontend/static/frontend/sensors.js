// The console's sensor layer (lifeline monitoring): sensors as dots coloured by state, refreshed on every live
// event (an alarm's case log reaches the feed) and every half minute; a click opens the sensor panel with its
// last 24 hours (plain SVG: the mean, and the low–high band) and its alarm episodes.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var map = window.cityGridMap, text = cfg.sensorText;
  var $ = function (id) { return document.getElementById(id); };
  if (!map || !cfg.apiSensors) return;
  var COLOURS = { unknown: "#9e9e9e", normal: "#2e7d32", warning: "#f9a825", alarm: "#d50000", silent: "#5d4037",
                  inactive: "#bdbdbd" };  // as citygrid.css colours the dots
  var layer = L.layerGroup().addTo(map), dots = {}, current = null;
  // Under the cases' markers and their clusters' counts (a sensor beside a cluster hid its number); a sensor in
  // alarm stays on top of them.
  if (!map.getPane("sensors")) map.createPane("sensors").style.zIndex = 590;
  if (window.cityGridLayers) window.cityGridLayers.addOverlay(layer, text.layer);

  // The map view's sensors only (the city has thousands); a view the map has left by the time its answer comes is
  // dropped, so a slow answer never overwrites a newer one.
  var asked = 0;
  function load() {
    var b = map.getBounds(), sw = datum.toStored(b.getSouthWest()), ne = datum.toStored(b.getNorthEast());
    var ticket = ++asked;
    var box = [Math.max(sw[0], -180), Math.max(sw[1], -90), Math.min(ne[0], 180), Math.min(ne[1], 90)];
    return C.api(cfg.apiSensors + "?bbox=" + box.map(function (v) { return v.toFixed(6); }).join(",")).then(function (r) {
      if (!r.ok || ticket !== asked) return;
      layer.clearLayers(); dots = {};
      var counts = {};
      r.data.features.forEach(function (f) {
        var p = f.properties, c = f.geometry.coordinates;
        counts[p.state] = (counts[p.state] || 0) + 1;
        // DOM markers (the base map draws on a canvas): each dot has its state as a class and its code as a title.
        var dot = L.marker(datum.toDisplay(c[0], c[1]), {
          title: p.code, zIndexOffset: p.state === "alarm" ? 1000 : 0, pane: p.state === "alarm" ? "markerPane" : "sensors",
          icon: L.divIcon({ className: "sensor-dot sensor-" + p.state, iconSize: p.state === "alarm" ? [18, 18] : [14, 14] })
        }).bindTooltip(p.code + " " + p.kind_name + " · " + p.state_name +
          (p.last_value !== null ? " · " + p.last_value + " " + p.unit : ""));
        dot.on("click", function () { open(f.id); });
        dots[f.id] = dot;
        layer.addLayer(dot);
      });
      var legend = $("sensor-legend");
      if (legend) {
        var keys = Object.keys(COLOURS).filter(function (s) { return counts[s]; }).map(function (s) {
          return '<span class="sensor-key"><i style="background:' + COLOURS[s] + '"></i>' + C.esc(cfg.sensorStates[s]) +
            " " + counts[s] + "</span>";
        });
        // Said what it counts: a state and a number alone read as nothing in particular.
        legend.innerHTML = keys.length ? C.esc(text.legend) + " " + keys.join(" ") : "";
      }
      document.body.dataset.sensorsLoaded = String(r.data.features.length);
      if (current) open(current, true);
    });
  }

  function chart(points, thresholds) {
    var w = 360, h = 140, pad = 28;
    if (!points.length) return "<p>" + C.esc(text.noReadings) + "</p>";
    var ts = points.map(function (p) { return Date.parse(p.t); });
    var lows = points.map(function (p) { return p.low; }), highs = points.map(function (p) { return p.high; });
    var levels = ["warn_above", "alarm_above", "warn_below", "alarm_below"].map(function (k) { return thresholds[k]; })
      .filter(function (v) { return v !== null && v !== undefined; });
    var lo = Math.min.apply(null, lows.concat(levels)), hi = Math.max.apply(null, highs.concat(levels));
    if (hi === lo) { hi += 1; lo -= 1; }
    var t0 = ts[0], t1 = Math.max(ts[ts.length - 1], t0 + 1);
    function x(t) { return pad + (w - pad - 4) * (t - t0) / (t1 - t0); }
    function y(v) { return 4 + (h - 20) * (hi - v) / (hi - lo); }
    var band = points.map(function (p, i) { return x(ts[i]).toFixed(1) + "," + y(p.high).toFixed(1); })
      .concat(points.slice().reverse().map(function (p, i) {
        var j = points.length - 1 - i; return x(ts[j]).toFixed(1) + "," + y(p.low).toFixed(1);
      })).join(" ");
    var line = points.map(function (p, i) { return x(ts[i]).toFixed(1) + "," + y(p.mean).toFixed(1); }).join(" ");
    var rules = ["warn_above", "alarm_above", "warn_below", "alarm_below"].map(function (k) {
      var v = thresholds[k];
      if (v === null || v === undefined) return "";
      return '<line class="level ' + k + '" x1="' + pad + '" x2="' + (w - 4) + '" y1="' + y(v).toFixed(1) + '" y2="' + y(v).toFixed(1) + '"/>';
    }).join("");
    return '<svg class="sensor-chart" viewBox="0 0 ' + w + " " + h + '" role="img" aria-label="' + C.esc(text.last24h) + '">' +
      '<polygon class="band" points="' + band + '"/>' + rules + '<polyline class="mean" points="' + line + '"/>' +
      '<text x="2" y="12">' + C.esc(hi.toPrecision(3)) + '</text><text x="2" y="' + (h - 16) + '">' + C.esc(lo.toPrecision(3)) + "</text>" +
      '<text x="' + pad + '" y="' + (h - 2) + '">' + C.esc(points[0].t.slice(5, 16).replace("T", " ")) + " – " + C.esc(points[points.length - 1].t.slice(5, 16).replace("T", " ")) + "</text></svg>";
  }

  function open(code, quiet) {
    current = code;
    return Promise.all([C.api(cfg.apiSensor + encodeURIComponent(code) + "/"),
                        C.api(cfg.apiSensor + encodeURIComponent(code) + "/chart/")]).then(function (rs) {
      if (code !== current || !rs[0].ok) return;
      var f = rs[0].data, p = f.properties, el = $("sensor-panel");
      el.hidden = false;
      el.dataset.code = code;
      el.innerHTML = '<button type="button" class="close-panel" aria-label="close">×</button>' +
        "<h2>" + C.esc(p.name || p.code) + ' <small class="sensor-state state-' + C.esc(p.state) + '">' + C.esc(p.state_name) + "</small></h2>" +
        "<p>" + C.esc(p.code) + " · " + C.esc(p.kind_name) + " · " + C.esc(p.owner_name) +
        (p.watched_object ? " · " + C.esc(p.watched_object) : "") + "</p>" +
        "<p>" + C.esc(text.lastValue) + ": <b>" + (p.last_value === null ? "—" : C.esc(p.last_value) + " " + C.esc(p.unit)) + "</b>" +
        (p.last_time ? " <small>" + C.esc(p.last_time.slice(5, 16).replace("T", " ")) + "</small>" : "") +
        (p.flapping ? ' <b class="urgency">' + C.esc(text.flapping) + "</b>" : "") + "</p>" +
        "<h3>" + C.esc(text.last24h) + (rs[1].ok ? " <small>(" + C.esc(rs[1].data.unit) + ")</small>" : "") + "</h3>" +
        (rs[1].ok ? chart(rs[1].data.points, p.thresholds) : "") +
        "<h3>" + C.esc(text.episodes) + "</h3>" + (p.episodes.length ? '<ol class="episodes">' + p.episodes.map(function (e) {
          return '<li class="level-' + C.esc(e.peak_level) + '">' + C.esc(e.started_at.slice(5, 16).replace("T", " ")) + " – " +
            (e.ended_at ? C.esc(e.ended_at.slice(11, 16)) : C.esc(text.ongoing)) + " · " + C.esc(cfg.sensorLevels[e.peak_level]) +
            " · " + C.esc(text.peak) + " " + C.esc(e.peak_value) + " " + C.esc(p.unit) +
            (e.case ? " · " + C.esc(text.case) + " " + C.esc(e.case) : "") + "</li>";
        }).join("") + "</ol>" : "<p>" + C.esc(text.noEpisodes) + "</p>");
      if (!quiet) $("panel").hidden = true;
    });
  }
  $("sensor-panel").addEventListener("click", function (e) {
    if (e.target.closest(".close-panel")) { $("sensor-panel").hidden = true; current = null; }
  });

  var pending = null;
  document.addEventListener("citygrid:event", function () {
    clearTimeout(pending);
    pending = setTimeout(load, 500);
  });
  var moved = null;
  map.on("moveend", function () { clearTimeout(moved); moved = setTimeout(load, 250); });
  setInterval(load, 30000);
  load();
})();
