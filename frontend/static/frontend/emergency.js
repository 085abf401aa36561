// Emergency command: the list of incidents with the form that opens one (mode "list"), and the incident board
// (mode "board"): the area, the cases in it, units, resources, sensors in alarm and pipes on the map; tasks with
// their deadlines; the timeline from the log; the decisions the server allows. Data from /api/emergency/.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), text = cfg.text, datum = window.CityGridDatum(cfg.tileDatum);
  var map = C.baseMap("map", cfg, { doubleClickZoom: false });

  function time(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return (d.getMonth() + 1) + "-" + d.getDate() + " " + ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }
  function levelClass(level) { return "level-" + level; }

  // ---- The list and opening an incident -------------------------------------------------------------------
  function listMode() {
    var list = document.getElementById("incidents"), ended = document.getElementById("show-ended");
    var areas = L.layerGroup().addTo(map), svg = L.svg();  // in SVG: a few clickable areas styled by their level
    // The districts, outlined and named: where to draw an area is plain without a base map (an intranet).
    var districts = L.geoJSON(null, { style: { color: "#0b3d63", weight: 2, fill: false }, interactive: false,
      onEachFeature: function (f) {
        var at = C.labelPoint(f.geometry);
        if (at) L.tooltip({ permanent: true, direction: "center", className: "area-label" })
          .setLatLng(at).setContent(C.esc(f.properties.name)).addTo(map);
      } }).addTo(map);
    if (cfg.home) {  // a district's centre: its district in view, where it draws
      map.fitBounds([datum.toDisplay(cfg.home[0], cfg.home[1]), datum.toDisplay(cfg.home[2], cfg.home[3])]);
    }
    C.features(cfg.apiAreas + "?level=district&zoom=12&page_size=100", datum).then(function (fc) {
      districts.addData(fc);
      if (!cfg.home && districts.getLayers().length) map.fitBounds(districts.getBounds());
    }).catch(function () { /* refused or offline: the page works without the outlines */ });
    function load() {
      var url = cfg.apiIncidents + "?status=" + (ended.checked ? "all" : "open");
      return C.api(url).then(function (r) {
        if (!r.ok) return;
        areas.clearLayers();  // each incident's area, coloured by its level, opening its board
        r.data.results.forEach(function (i) {
          if (!i.area) return;
          L.geoJSON({ type: "Feature", geometry: datum.geometry(i.area), properties: {} }, { renderer: svg,
            className: "incident-area " + levelClass(i.level), style: { weight: 2, fillOpacity: 0.2 } })
            .bindTooltip(C.esc(i.title)).on("click", function () {
              window.location.href = cfg.board + encodeURIComponent(i.number) + "/";
            }).addTo(areas);
        });
        list.innerHTML = r.data.results.length ? r.data.results.map(function (i) {
          return '<li class="incident ' + levelClass(i.level) + (i.drill ? " drill" : "") + '">' +
            '<a href="' + cfg.board + encodeURIComponent(i.number) + '/">' +
            (i.drill ? '<span class="drill-badge">' + C.esc(text.drill) + "</span> " : "") +
            "<strong>" + C.esc(i.title) + "</strong></a><br><small>" + C.esc(i.number) + " · " +
            C.esc(i.event_type_name) + " · " + C.esc(i.level_label) + " · " + C.esc(i.status_label) + " · " +
            C.esc(time(i.created_at)) + "</small></li>";
        }).join("") : "<li>" + C.esc(text.none) + "</li>";
      });
    }
    ended.addEventListener("change", load);
    load();
    var form = document.getElementById("open-form");
    if (!form) return;
    var corners = [], outline = null, drawn = null;
    map.on("click", function (e) {
      if (drawn) { map.removeLayer(drawn); drawn = null; corners = []; }
      corners.push(e.latlng);
      if (outline) map.removeLayer(outline);
      outline = L.polyline(corners, { color: "#d50000" }).addTo(map);
    });
    map.on("dblclick", function () {
      if (corners.length < 3) return;
      if (outline) map.removeLayer(outline);
      drawn = L.polygon(corners, { color: "#d50000", fillOpacity: 0.15 }).addTo(map);
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = new FormData(form), body = { title: f.get("title"), event_type: f.get("event_type"),
        level: Number(f.get("level")), drill: !!f.get("drill") };
      if (f.get("case")) body.case = f.get("case").trim();
      if (f.get("sensor")) body.sensor = f.get("sensor").trim();
      if (drawn) {
        var ring = drawn.getLatLngs()[0].map(function (ll) { return datum.toStored(ll); });
        ring.push(ring[0]);
        body.area = { type: "Polygon", coordinates: [ring] };
      }
      document.getElementById("open-submit").disabled = true;
      C.api(cfg.apiIncidents, { method: "POST", body: body }).then(function (r) {
        document.getElementById("open-submit").disabled = false;
        if (r.ok) { window.location.href = cfg.board + encodeURIComponent(r.data.number) + "/"; return; }
        document.getElementById("open-error").textContent = C.errorsText(r.data);
      });
    });
  }

  // ---- The incident board --------------------------------------------------------------------------------
  function boardMode() {
    var layers = { area: L.layerGroup().addTo(map), cases: L.layerGroup().addTo(map), units: L.layerGroup().addTo(map),
                   resources: L.layerGroup().addTo(map), sensors: L.layerGroup().addTo(map),
                   pipes: L.layerGroup().addTo(map), warnings: L.layerGroup().addTo(map) };
    var fitted = false, current = null;
    var statusColour = { closed: "#888", processed: "#2e7d32", dispatched: "#f57c00", in_progress: "#f57c00" };

    function drawMap(b) {
      layers.area.clearLayers();
      var area = L.geoJSON(datum.geometry(b.area), { style: { color: "#d50000", weight: 2, fillOpacity: 0.08 } })
        .addTo(layers.area);
      if (!fitted) { map.fitBounds(area.getBounds(), { maxZoom: 16, animate: false }); fitted = true; }
      layers.cases.clearLayers();
      var c = b.cases.columns, scale = b.cases.scale;  // columns; lon and lat in microdegrees, classes by id
      c.number.forEach(function (number, i) {
        var taken = c.taken_in[i];
        L.circleMarker(datum.toDisplay(c.lon[i] / scale, c.lat[i] / scale), { radius: taken ? 6 : 3, weight: taken ? 2 : 0,
          color: "#b71c1c", fillColor: statusColour[c.status[i]] || "#d32f2f", fillOpacity: 0.8 })
          .bindTooltip(C.esc(number + " " + (b.cases.categories[c.category[i]] || ""))).addTo(layers.cases);
      });
      layers.units.clearLayers();
      b.units.forEach(function (u) {
        L.circleMarker(datum.toDisplay(u.lon, u.lat), { radius: 8, color: "#0d47a1", fillColor: "#42a5f5",
          fillOpacity: 0.9 }).bindTooltip(C.esc(u.name + " · " + u.state_label)).addTo(layers.units);
      });
      layers.resources.clearLayers();
      b.resources.forEach(function (r) {
        L.marker(datum.toDisplay(r.lon, r.lat), { title: r.name }).bindTooltip(C.esc(r.kind_label + " · " + r.name))
          .addTo(layers.resources);
      });
      layers.sensors.clearLayers();
      b.sensors.forEach(function (s) {
        L.circleMarker(datum.toDisplay(s.lon, s.lat), { radius: 7, color: "#000", weight: 1,
          fillColor: s.level === "alarm" ? "#d50000" : "#ffb300", fillOpacity: 1 })
          .bindTooltip(C.esc(s.name + " · " + s.level_label + " " + s.peak + s.unit)).addTo(layers.sensors);
      });
      layers.pipes.clearLayers();
      b.pipes.segments.forEach(function (s) {
        L.geoJSON(datum.geometry(s.geometry), { style: { color: "#6a1b9a", weight: 2 } }).addTo(layers.pipes);
      });
    }
    function drawHead(i) {
      document.getElementById("inc-level").textContent = text.level + " " + i.level_label;
      document.getElementById("inc-level").className = "pill " + levelClass(i.level);
      document.getElementById("inc-status").textContent = i.status_label;
      document.getElementById("inc-meta").textContent = [i.category_name + " · " + i.event_type_name,
        i.districts.join("、"), i.headquarters || "", i.plan || ""].filter(Boolean).join(" · ");
      var decisions = document.getElementById("decisions");
      decisions.hidden = !cfg.mayCommand || i.status === "ended";
      document.getElementById("read-only").hidden = cfg.mayCommand || i.status === "ended"; // said, not guessed
      document.getElementById("handling-submit").hidden = i.status !== "responding";
      document.getElementById("activate-submit").hidden = !!i.plan;
      document.querySelector("#level-form select").value = String(i.level);
    }
    function drawTasks(tasks) {
      document.querySelector("#tasks tbody").innerHTML = tasks.map(function (t) {
        var late = t.overdue ? " late" : "";
        return '<tr class="task ' + C.esc(t.state) + late + '" data-task="' + t.id + '"><td>' + C.esc(t.kind_label) + ": " +
          C.esc(t.title) + (t.note ? "<br><small>" + C.esc(t.note) + "</small>" : "") + "</td><td>" + C.esc(t.bureau) +
          (t.unit_name ? "<br><small>" + C.esc(t.unit_name) + "</small>" : "") + "</td><td>" + C.esc(time(t.due_at)) +
          (t.overdue && t.state !== "done" ? " <strong>" + C.esc(text.overdue) + "</strong>" : "") +
          (t.escalated ? " <em>" + C.esc(text.escalated) + "</em>" : "") + "</td><td>" + C.esc(t.state_label) + "</td></tr>";
      }).join("");
    }
    function drawTimeline(entries) {
      document.getElementById("timeline").innerHTML = entries.slice().reverse().map(function (e) {
        return '<li data-action="' + C.esc(e.action) + '"><time>' + C.esc(time(e.at)) + "</time> <strong>" +
          C.esc(text.actions[e.action] || e.action) + "</strong> " + C.esc(e.note) +
          (e.by ? " <small>— " + C.esc(e.by) + "</small>" : "") + "</li>";
      }).join("");
    }
    function drawResources(rows, open) {
      document.getElementById("resources").innerHTML = rows.map(function (r) {
        var extra = r.capacity ? " · " + text.capacity + " " + r.capacity : r.items.length ? " · " + r.items.join("、") : "";
        return "<li>" + C.esc(r.kind_label) + " · <strong>" + C.esc(r.name) + "</strong>" + C.esc(extra) +
          " <small>" + C.esc(r.bureau) + " " + C.esc(r.phone) + "</small> " +
          (r.mobilised ? "<em>" + C.esc(text.mobilised) + "</em>" : (cfg.mayCommand && open ?
            '<button type="button" class="mobilise" data-code="' + C.esc(r.code) + '">' + C.esc(text.mobilise) + "</button>" : "")) +
          "</li>";
      }).join("");
    }
    function drawWarnings(rows) {
      document.getElementById("warnings").innerHTML = rows.map(function (w) {
        return '<li class="warning' + (w.in_force ? "" : " past") + '"><span class="pill" style="background:' +
          C.esc(w.colour) + '">' + C.esc(w.level_label) + "</span> " + (w.exercise ? "<em>" + C.esc(text.drill) + "</em> " : "") +
          "<strong>" + C.esc(w.headline) + "</strong> <small>" + C.esc(w.state_label) + "</small></li>";
      }).join("");
      layers.warnings.clearLayers();
      rows.filter(function (w) { return w.in_force; }).forEach(function (w) {
        L.geoJSON(datum.geometry(w.area), { interactive: false, style: { color: w.colour, weight: 2, fill: false,
          dashArray: "6 4" } }).addTo(layers.warnings);
      });
    }
    function drawSummary(b) {
      var kinds = Object.keys(b.pipes.by_kind).map(function (k) { return k + " " + b.pipes.by_kind[k]; }).join("、");
      document.getElementById("layers-summary").textContent = text.cases + " " + b.cases.columns.number.length +
        (b.cases.truncated ? " (" + text.more + ")" : "") + " · " + text.units + " " + b.units.length + " · " +
        text.sensors + " " + b.sensors.length + " · " + text.pipes + " " + (kinds || 0) + " · " + b.pipes.components +
        " " + text.components;
    }
    function loadOffered() {
      if (!cfg.mayCommand || !cfg.mayTakeIn) return;
      C.api(cfg.apiOffered).then(function (r) {
        if (!r.ok) return;
        document.getElementById("offered").innerHTML = r.data.results.map(function (c) {
          return "<li>" + C.esc(c.number) + " " + C.esc(c.category_name) + " " + C.esc(c.status_label) +
            ' <button type="button" class="take-in" data-case="' + C.esc(c.number) + '">' + C.esc(text.addCase) + "</button></li>";
        }).join("");
      });
    }
    function load() {
      return C.api(cfg.apiBoard).then(function (r) {
        if (!r.ok) return;
        current = r.data;
        drawHead(r.data.incident);
        drawMap(r.data);
        drawTasks(r.data.tasks);
        drawTimeline(r.data.timeline);
        drawResources(r.data.resources, r.data.incident.status !== "ended");
        drawWarnings(r.data.warnings);
        drawSummary(r.data);
        document.body.dataset.loaded = r.data.incident.version;
        loadOffered();
      });
    }
    function act(action, body) {
      var error = document.getElementById("decision-error");
      error.textContent = "";
      return C.api(cfg.apiAction + action + "/", { method: "POST", body: body || {} }).then(function (r) {
        if (r.status === 409) { error.textContent = text.conflict; }
        else if (!r.ok) { error.textContent = C.errorsText(r.data); }
        else if (r.data.suggested_plan) {
          document.getElementById("suggested").textContent = text.suggested + ": " + r.data.suggested_plan.name;
        }
        return load().then(function () { return r; });
      });
    }
    document.getElementById("level-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = new FormData(ev.target);
      act("level", { level: Number(f.get("level")), reason: f.get("reason") }).then(function (r) {
        if (r.ok) ev.target.reset();
      });
    });
    document.getElementById("activate-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      act("activate", {});
    });
    document.getElementById("status-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      act("status", { status: "handling" });
    });
    document.getElementById("end-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      act("end", { note: new FormData(ev.target).get("note") });
    });
    document.addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest("button") : null;
      if (!b) return;
      if (b.classList.contains("mobilise")) act("mobilise", { resource: b.dataset.code });
      if (b.classList.contains("take-in")) act("add-case", { case: b.dataset.case });
    });
    load();
    setInterval(function () { if (!document.hidden) load(); }, 15000);
    return current;
  }

  if (cfg.mode === "board") boardMode(); else listMode();
})();
