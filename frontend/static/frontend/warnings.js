// Early warning (预警) for the command centres: the warnings in force or past in a list and on the map, the
// figures per level (drills not counted), a form to issue one with its area drawn on the map click by click,
// and for the open warning its log, its CAP documents, update and cancel (only when the server says this user
// may). Drills are marked 演练 wherever they show.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var text = cfg.text;
  var $ = function (id) { return document.getElementById(id); };
  var map = C.baseMap($("map"), cfg);
  window.cityGridMap = map;
  var outlines = L.geoJSON(null, { style: { color: "#0b3d63", weight: 1.2, fill: false }, interactive: false }).addTo(map);
  var shown = L.featureGroup().addTo(map), sketch = L.featureGroup().addTo(map);
  C.features(cfg.apiAreas + "?level=district&zoom=12&page_size=100", datum).then(function (fc) {  // where the districts are
    outlines.addData(fc);
  }).catch(function () { /* refused or offline: the page works without the outlines */ });
  var state = "in_force", warnings = {}, levels = [], openId = null;
  var polygons = [], corners = [], drawing = false;

  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }
  function localInput(date) {
    var d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }
  function message(t, error) { $("message").textContent = t || ""; $("message").className = error ? "message error" : "message"; }
  function badge(w) {
    return '<span class="level level-' + C.esc(w.level) + '">' + C.esc(w.level_label) + "</span>" +
      (w.exercise ? ' <span class="drill">' + C.esc(text.drill) + "</span>" : "");
  }

  // drawing: corners clicked on the map (as displayed), closed into a polygon by "finish"
  function redrawSketch() {
    sketch.clearLayers();
    polygons.forEach(function (ring) { L.polygon(ring, { color: "#6a1b9a", weight: 2, dashArray: "5 4" }).addTo(sketch); });
    if (corners.length) L.polyline(corners, { color: "#6a1b9a", weight: 2 }).addTo(sketch);
    corners.forEach(function (c) { L.circleMarker(c, { radius: 4, color: "#6a1b9a" }).addTo(sketch); });
    document.querySelectorAll("[data-drawn]").forEach(function (el) {
      el.textContent = polygons.length + " × " + (polygons.length ? "▱" : "") + (corners.length ? " + " + corners.length + " " + text.points : "");
    });
    $("map").dataset.polygons = String(polygons.length);
  }
  function startDrawing() { drawing = true; $("draw-tools").hidden = false; map.doubleClickZoom.disable(); }
  function stopDrawing() { drawing = false; $("draw-tools").hidden = true; polygons = []; corners = []; redrawSketch(); map.doubleClickZoom.enable(); }
  function finishRing() {
    if (corners.length >= 3) polygons.push(corners.slice());
    corners = [];
    redrawSketch();
  }
  map.on("click", function (e) { if (!drawing) return; corners.push(e.latlng); redrawSketch(); });
  map.on("dblclick", function () { if (drawing) finishRing(); });
  $("draw-tools").addEventListener("click", function (e) {
    var b = e.target.closest("[data-draw]");
    if (!b) return;
    if (b.dataset.draw === "finish") finishRing();
    else if (b.dataset.draw === "undo") { if (corners.length) corners.pop(); else polygons.pop(); redrawSketch(); }
    else { polygons = []; corners = []; redrawSketch(); }
  });
  function drawnArea() {
    if (corners.length >= 3) finishRing();
    if (!polygons.length) return null;
    return { type: "MultiPolygon", coordinates: polygons.map(function (ring) {
      var pts = ring.map(function (ll) { var p = datum.toStored(ll); return [+p[0].toFixed(6), +p[1].toFixed(6)]; });
      pts.push(pts[0]);
      return [pts];
    }) };
  }

  function showOnMap(list) {
    shown.clearLayers();
    list.forEach(function (w) {
      L.geoJSON(datum.geometry(w.area), { style: { color: w.colour, weight: 2, fillOpacity: w.in_force ? 0.25 : 0.08,
        dashArray: w.exercise ? "8 6" : null } })
        .on("click", function () { if (!drawing) open(w.id); }).addTo(shown);  // while drawing, a click is a corner
    });
    if (list.length) map.fitBounds(shown.getBounds(), { maxZoom: 14, padding: [20, 20] });
  }
  function load() {
    return C.api(cfg.apiWarnings + "?state=" + state).then(function (r) {
      if (!r.ok) { message(C.errorsText(r.data), true); return; }
      $("new-warning").hidden = !r.data.may_issue;
      $("figures").innerHTML = levels.map(function (l) {
        return '<span class="level level-' + C.esc(l.code) + '">' + C.esc(l.label) + " " + (r.data.figures[l.code] || 0) + "</span>";
      }).join(" ");
      warnings = {};
      r.data.results.forEach(function (w) { warnings[w.id] = w; });
      $("list").innerHTML = r.data.results.length ? r.data.results.map(function (w) {
        return '<li class="card' + (w.exercise ? " exercise" : "") + '" data-id="' + w.id + '" style="border-left-color:' +
          C.esc(w.colour) + '">' + badge(w) + " <strong>" + C.esc(w.headline) + "</strong><br><small>" +
          C.esc(w.state_label) + " · " + C.esc(w.area_desc) + " · " + C.esc(text.expires) + " " + C.esc(when(w.expires)) +
          "</small></li>";
      }).join("") : "<li>" + C.esc(text.none) + "</li>";
      showOnMap(r.data.results);
      $("map").dataset.ready = "1";
    });
  }
  function errors(form, data) {
    form.querySelector("[data-errors]").textContent = C.errorsText(data);
  }

  // issuing
  var issueForm = $("issue");
  function openIssue() {
    $("detail").hidden = true; openId = null;
    issueForm.hidden = false; issueForm.reset();
    issueForm.querySelector("[data-errors]").textContent = "";
    issueForm.elements.expires.value = localInput(new Date(Date.now() + 24 * 3600e3));
    polygons = []; corners = []; redrawSketch(); startDrawing();
    message(text.needArea);
  }
  $("new-warning").addEventListener("click", openIssue);
  issueForm.querySelector("[data-close]").addEventListener("click", function () { issueForm.hidden = true; stopDrawing(); message(""); });
  function suggestHeadline() {
    var f = issueForm.elements, type = f.type.options[f.type.selectedIndex], level = issueForm.querySelector("input[name=level]:checked");
    if (!f.headline.dataset.typed && type && level) f.headline.value = type.text + level.dataset.label + "预警";
  }
  issueForm.addEventListener("change", function (e) { if (e.target.name === "type" || e.target.name === "level") suggestHeadline(); });
  issueForm.elements.headline.addEventListener("input", function () { issueForm.elements.headline.dataset.typed = "1"; });
  // From the incident board (?incident=): the incident's area drawn already, the drill box the incident's, and the
  // warning posted to the incident, which ties it to its number; back to the board once issued.
  var incident = cfg.incident;
  function openForIncident() {
    openIssue();
    polygons = incident.area.coordinates.map(function (poly) {
      return poly[0].slice(0, -1).map(function (c) { return datum.toDisplay(c[0], c[1]); });
    });
    redrawSketch();
    issueForm.elements.exercise.checked = incident.drill;
    issueForm.elements.exercise.disabled = true;
    issueForm.elements.exercise.closest("label").title = text.drillFollowsIncident;  // why it cannot be changed
    $("for-incident").hidden = false;
    $("for-incident").textContent = text.forIncident + " " + incident.number + " " + incident.title;
    map.fitBounds(L.featureGroup(sketch.getLayers()).getBounds(), { maxZoom: 15, padding: [20, 20] });
    message("");
  }
  issueForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = issueForm.elements, area = drawnArea();
    if (!area) { errors(issueForm, { area: [text.needArea] }); return; }
    var level = issueForm.querySelector("input[name=level]:checked");
    var body = { type: f.type.value, level: level ? level.value : "", headline: f.headline.value,
      description: f.description.value, instruction: f.instruction.value, area_desc: f.area_desc.value, area: area,
      effective: f.effective.value || null, expires: f.expires.value, exercise: f.exercise.checked };
    C.api(incident ? incident.api : cfg.apiWarnings, { method: "POST", body: body }).then(function (r) {
      if (!r.ok) { errors(issueForm, r.data); return; }
      if (incident) { window.location.assign(incident.board); return; }
      issueForm.hidden = true; stopDrawing();
      message(text.issued);
      state = "in_force"; selectTab();
      load().then(function () { open(r.data.id); });
    }, function () { errors(issueForm, text.network); });
  });

  // one warning: its facts, log and CAP documents; update and cancel when allowed
  function open(id) {
    return C.api(cfg.apiWarnings + id + "/").then(function (r) {
      if (!r.ok) { message(C.errorsText(r.data), true); return; }
      issueForm.hidden = true;
      openId = id;
      render(r.data);
    });
  }
  function render(w) {
    var d = $("detail");
    d.hidden = false;
    d.dataset.id = w.id;
    d.innerHTML = "<h2>" + badge(w) + " " + C.esc(w.headline) + "</h2>" +
      '<p class="state">' + C.esc(w.state_label) + " · " + C.esc(w.type_name) + "</p>" +
      '<dl class="facts"><dt>' + C.esc(text.area) + "</dt><dd>" + C.esc(w.area_desc) + "</dd><dt>" +
      C.esc(text.effective) + "</dt><dd>" + C.esc(when(w.effective)) + "</dd><dt>" + C.esc(text.expires) + "</dt><dd>" +
      C.esc(when(w.expires)) + "</dd><dt>" + C.esc(text.issuer) + "</dt><dd>" + C.esc(w.issuer) + "</dd></dl>" +
      "<p>" + C.esc(w.description) + "</p>" + (w.instruction ? '<p class="instruction">' + C.esc(w.instruction) + "</p>" : "") +
      "<h3>" + C.esc(text.log) + '</h3><ol class="warning-log">' + w.log.map(function (e) {
        return '<li data-seq="' + e.seq + '"><strong>' + C.esc(e.action_label) + "</strong> " + C.esc(when(e.sent)) + " · " +
          C.esc(text.by) + " " + C.esc(e.by) + (e.note ? " · " + C.esc(e.note) : "") + '<br><a href="' + C.esc(e.cap_url) +
          '" target="_blank" rel="noopener">' + C.esc(text.cap) + "</a> <code>" + C.esc(e.identifier) + "</code>" +
          (e.references ? '<br><small class="refs">' + C.esc(text.references) + ": " + C.esc(e.references) + "</small>" : "") + "</li>";
      }).join("") + "</ol>";
    if (w.can_change) {
      d.appendChild(document.importNode($("change-forms").content, true));
      var up = d.querySelector("form.update"), cancel = d.querySelector("form.cancel");
      up.elements.level.innerHTML = levels.map(function (l) {
        return '<option value="' + C.esc(l.code) + '"' + (l.code === w.level ? " selected" : "") + ">" + C.esc(l.label) + "</option>";
      }).join("");
      up.elements.headline.value = w.headline;
      up.elements.description.value = w.description;
      up.elements.instruction.value = w.instruction;
      up.elements.area_desc.value = w.area_desc;
      up.elements.expires.value = localInput(new Date(w.expires));
      polygons = []; corners = []; redrawSketch(); startDrawing();
      up.addEventListener("submit", function (e) {
        e.preventDefault();
        var f = up.elements, body = { version: w.version, level: f.level.value, headline: f.headline.value,
          description: f.description.value, instruction: f.instruction.value, area_desc: f.area_desc.value,
          expires: f.expires.value, note: f.note.value };
        var area = drawnArea();
        if (area) body.area = area;
        act(w.id + "/update/", body, up, text.updated);
      });
      cancel.addEventListener("submit", function (e) {
        e.preventDefault();
        act(w.id + "/cancel/", { version: w.version, note: cancel.elements.note.value }, cancel, text.cancelled);
      });
    } else {
      stopDrawing();
    }
    var layer = L.geoJSON(datum.geometry(w.area));
    map.fitBounds(layer.getBounds(), { maxZoom: 14, padding: [20, 20] });
  }
  function act(path, body, form, done) {
    C.api(cfg.apiWarnings + path, { method: "POST", body: body }).then(function (r) {
      if (r.status === 409) { message(text.conflict, true); load(); open(openId); return; }
      if (!r.ok) { errors(form, r.data); return; }
      message(done);
      stopDrawing();
      load().then(function () { render(r.data); });
    }, function () { errors(form, text.network); });
  }

  $("list").addEventListener("click", function (e) {
    var li = e.target.closest("[data-id]");
    if (li) open(+li.dataset.id);
  });
  function selectTab() {
    document.querySelectorAll("[role=tab]").forEach(function (b) { b.setAttribute("aria-selected", String(b.dataset.state === state)); });
  }
  document.querySelector(".tabs").addEventListener("click", function (e) {
    var b = e.target.closest("[role=tab]");
    if (!b) return;
    state = b.dataset.state; selectTab(); load();
  });

  C.api(cfg.apiTypes).then(function (r) {
    if (!r.ok) return;
    levels = r.data.levels;
    issueForm.elements.type.innerHTML = r.data.types.map(function (t) {
      return '<option value="' + C.esc(t.code) + '">' + C.esc(t.name) + "</option>";
    }).join("");
    issueForm.querySelector(".levels").insertAdjacentHTML("beforeend", levels.map(function (l) {
      return '<label class="level-choice level-' + C.esc(l.code) + '"><input type="radio" name="level" value="' + C.esc(l.code) +
        '" data-label="' + C.esc(l.label) + '" required> ' + C.esc(l.label) + "</label>";
    }).join(""));
    load().then(function () { if (incident) openForIncident(); });
  });
})();
