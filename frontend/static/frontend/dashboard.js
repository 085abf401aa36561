// The leaders' dashboard. Every figure is aggregated by the server (PostGIS): the heatmap gets density
// buckets, the choropleth counts per cell or community, never the cases themselves.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text;
  var map = C.baseMap($("map"), cfg);
  window.cityGridMap = map;
  // Stays on the map, emptied in choropleth mode: Leaflet.heat fails if removed while a redraw is pending.
  var heat = L.heatLayer([], { radius: 16, blur: 12, minOpacity: 0.35, maxZoom: 17 }).addTo(map);
  var shapes = L.geoJSON(null, {
    style: function (f) { return { color: "#555", weight: 0.6, fillColor: ramp(f.properties.count), fillOpacity: 0.7 }; },
    onEachFeature: function (f, layer) { layer.on("click", function (e) { figures(f, e.latlng); }); }
  });
  var outlines = L.geoJSON(null, { style: { color: "#0b3d63", weight: 1.5, fill: false }, interactive: false }).addTo(map);
  C.features(cfg.apiAreas + "?level=district&zoom=12&page_size=100", datum).then(function (fc) {
    outlines.addData(fc);
    if (outlines.getLayers().length) map.fitBounds(outlines.getBounds());  // redraws on moveend
  }).catch(function () { /* refused or offline: the page works without the outlines */ });
  var peak = 1, tables = { overdue: [], ranking: [] }, chart = null;

  C.api(cfg.apiCatalogue).then(function (r) {
    C.majorOptions($("f-class"), r.ok ? (r.data.results || r.data) : []);
  });
  function params(extra) {
    var form = new FormData($("period")), p = new URLSearchParams();
    ["start", "end", "major"].forEach(function (k) { if (form.get(k)) p.set(k, form.get(k)); });
    Object.keys(extra || {}).forEach(function (k) { p.set(k, extra[k]); });
    return p.toString();
  }
  function mode() { return new FormData($("period")).get("mode"); }
  function bbox() {
    var b = map.getBounds(), sw = datum.toStored(b.getSouthWest()), ne = datum.toStored(b.getNorthEast());
    return [Math.max(sw[0], -180), Math.max(sw[1], -90), Math.min(ne[0], 180), Math.min(ne[1], 90)].map(function (v) { return v.toFixed(5); }).join(",");
  }
  function ramp(n) {
    var t = Math.min(1, Math.log(1 + n) / Math.log(1 + peak));
    var stops = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"];
    return stops[Math.min(stops.length - 1, Math.floor(t * stops.length))];
  }
  var mapTicket = 0;
  function drawMap() {
    var ticket = ++mapTicket, el = $("map");
    el.dataset.mode = mode();
    el.dataset.ready = "0";
    var q = params({ zoom: map.getZoom(), bbox: bbox() });
    if (mode() === "heat") {
      map.removeLayer(shapes);
      return C.api(cfg.apiHeat + "?" + q).then(function (r) {
        if (ticket !== mapTicket || !r.ok) return;
        // Scaled to the 90th percentile, so that a few hot buckets do not wash out the rest of the city.
        var counts = r.data.points.map(function (p) { return p[2]; }).sort(function (a, b) { return a - b; });
        heat.setOptions({ max: Math.max(1, counts[Math.floor(counts.length * 0.9)] || 1) });
        heat.setLatLngs(r.data.points.map(function (p) { var d = datum.toDisplay(p[1], p[0]); return [d.lat, d.lng, p[2]]; }));
        $("legend").textContent = r.data.total + " " + text.cases;
        el.dataset.points = r.data.points.length;
        el.dataset.ready = "1";
      });
    }
    heat.setLatLngs([]);
    return C.api(cfg.apiChoropleth + "?" + q).then(function (r) {
      if (ticket !== mapTicket || !r.ok) return;
      peak = Math.max(1, r.data.max);
      r.data.features.forEach(function (f) { f.geometry = datum.geometry(f.geometry); });
      shapes.clearLayers();
      shapes.addData(r.data);
      if (!map.hasLayer(shapes)) shapes.addTo(map);
      $("legend").innerHTML = C.esc(r.data.level === "cell" ? text.perCell : text.perCommunity) + " · " + C.esc(text.max) + " " + peak +
        ' <span class="swatch" data-c="0"></span>…<span class="swatch" data-c="4"></span>';
      el.dataset.features = r.data.features.length;
      el.dataset.level = r.data.level;
      el.dataset.ready = "1";
    });
  }
  function figures(f, latlng) {
    C.api(cfg.apiArea + encodeURIComponent(f.properties.code) + "/?" + params()).then(function (r) {
      if (!r.ok) return;
      var rows = Object.keys(r.data.by_class).map(function (k) { return "<tr><td>" + C.esc(k || "–") + "</td><td>" + r.data.by_class[k] + "</td></tr>"; });
      L.popup().setLatLng(latlng).setContent('<div class="figures" data-code="' + C.esc(f.properties.code) + '"><b>' +
        C.esc(f.properties.name) + " " + C.esc(f.properties.code) + "</b><br>" + r.data.total + " " + C.esc(text.cases) +
        "<table>" + rows.join("") + "</table></div>").openOn(map);
    });
  }
  map.on("moveend", drawMap);

  function kpis() {
    return C.api(cfg.apiKpis + "?" + params()).then(function (r) {
      if (!r.ok) return;
      var d = r.data;
      // The due figures as the bulletins count them (dispatch/evaluation.py): against the cases due in the period.
      $("k-reported").textContent = d.reported.toLocaleString();
      $("k-due").textContent = d.due.toLocaleString();
      $("k-closure").textContent = pct(d.closure_rate);
      $("k-ontime").textContent = pct(d.on_time_closure_rate);
      $("k-overdue").textContent = d.overdue_total.toLocaleString();
      var data = { labels: d.days.map(function (x) { return x.slice(5); }), datasets: [
        { label: text.intake, data: d.intake, borderColor: "#1f78b4", backgroundColor: "#1f78b4", tension: 0.2 },
        { label: text.closed, data: d.closed, borderColor: "#33a02c", backgroundColor: "#33a02c", tension: 0.2 }] };
      if (chart) { chart.data = data; chart.update(); } else {
        chart = new Chart($("trend"), { type: "line", data: data, options: { animation: false, responsive: true,
          plugins: { legend: { position: "bottom" } }, scales: { y: { beginAtZero: true } } } });
      }
      // Bureaus by name: their codes (430300-SW) mean nothing to a reader.
      tables.overdue = [["bureau", "overdue"]].concat(d.overdue_by_bureau.map(function (o) { return [o.name, o.overdue]; }));
      $("overdue").innerHTML = table(tables.overdue);
      $("kpis").dataset.ready = "1";
    });
  }
  function ranking() {
    var form = new FormData($("period"));
    var q = "dimension=" + $("dimension").value + "&start=" + form.get("start") + "&end=" + form.get("end");
    return C.api(cfg.apiEvaluation + "?" + q).then(function (r) {
      if (!r.ok) return;
      var inspectors = $("dimension").value === "inspector";
      var head = inspectors ? ["rank", "code", "name", "score", "reported", "registered", "valid_report_rate",
                               "verification_on_time_rate"]
                            : ["rank", "code", "name", "score", "due", "closed", "closure_rate", "on_time_closure_rate"];
      tables.ranking = [head].concat(r.data.results.slice(0, 200).map(function (x, i) {
        // Units with too few cases due for a rate to say much come after the ranked ones, without a rank.
        var row = [x.ranked === false ? "–" : i + 1, x.code, x.name || x.code, x.score === null ? "" : x.score.toFixed(1)];
        return row.concat(head.slice(4).map(function (k) { return k in x.rates ? pct(x.rates[k]) : x[k]; }));
      }));
      // On screen a bureau or an inspector reads by name; its code (a user name, 430300-SW) stays in the CSV.
      $("ranking").innerHTML = table(tables.ranking.slice(0, 21), inspectors || $("dimension").value === "bureau" ? 1 : -1);
    });
  }
  function pct(rate) { return rate === null || rate === undefined ? "–" : (rate * 100).toFixed(2) + "%"; }
  function bulletins() {
    return C.api(cfg.apiBulletins).then(function (r) {
      if (!r.ok) return;
      var rows = r.data.results.map(function (b) {
        return "<tr><td>" + C.esc(b.start.slice(0, 7)) + "</td><td>" + C.esc(b.scope) + "</td><td>" +
          ["pdf", "xlsx", "csv"].map(function (f) { return '<a href="' + C.esc(b.files[f]) + '" data-bulletin="' + b.id + '">' + f.toUpperCase() + "</a>"; }).join(" ") + "</td></tr>";
      });
      $("bulletins").innerHTML = rows.length ? "<thead><tr><th>" + C.esc(text.month) + "</th><th>" + C.esc(text.scope) +
        "</th><th>" + C.esc(text.files) + "</th></tr></thead><tbody>" + rows.join("") + "</tbody>"
        : "<tr><td>" + C.esc(text.noBulletins) + "</td></tr>";
      $("bulletins").dataset.ready = "1";
    });
  }
  function table(rows, hidden) {
    if (rows.length < 2) return "<tr><td>" + C.esc(text.noData) + "</td></tr>";
    var shown = function (_, i) { return i !== hidden; };
    // Column keys stay as they are in the CSV; on screen they read in the page's language.
    return "<thead><tr>" + rows[0].filter(shown).map(function (h) { return "<th>" + C.esc(cfg.columns[h] || h) + "</th>"; }).join("") +
      "</tr></thead><tbody>" +
      rows.slice(1).map(function (r) { return "<tr>" + r.filter(shown).map(function (v) { return "<td>" + C.esc(v) + "</td>"; }).join("") + "</tr>"; }).join("") + "</tbody>";
  }
  document.querySelectorAll("[data-csv]").forEach(function (b) {
    b.addEventListener("click", function () {
      var rows = tables[b.dataset.csv];
      var csv = "\ufeff" + rows.map(function (r) {
        return r.map(function (v) {
          // A text cell a spreadsheet would take for a formula gets an apostrophe (as citygrid/exports.py).
          if (typeof v === "string" && /^[=+\-@\t\r]/.test(v)) v = "'" + v;
          v = String(v);
          return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
        }).join(",");
      }).join("\r\n");
      var a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
      a.download = b.dataset.csv + "-" + new FormData($("period")).get("start") + ".csv";
      document.body.appendChild(a); a.click(); a.remove();
    });
  });
  $("period").addEventListener("change", function (e) {
    if (e.target.name === "mode") { drawMap(); return; }
    drawMap(); kpis(); ranking();
  });
  $("dimension").addEventListener("change", ranking);
  drawMap();
  kpis(); ranking(); bulletins();
})();
