// The dispatcher's console: the map and the list kept in sync, the case panel with only the actions the
// server allows this user now, live updates from the case log (SSE, polling when the stream drops).
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text;
  var OPEN = cfg.openStatuses;

  var map = C.baseMap($("map"), cfg);
  window.cityGridMap = map;
  // No cluster animations: the list reloads on live events, and a reload during an animation breaks it.
  var clusters = L.markerClusterGroup({ maxClusterRadius: 50, spiderfyOnMaxZoom: true, animate: false }).addTo(map);
  // The grid from the vector tiles where the page has them (tiles.js), otherwise as GeoJSON for the view.
  var cellTiles = C.tiles && C.tiles.url(cfg, "cells"), cellStyle = { color: "#ff7f00", weight: 1, fillOpacity: 0.03 };
  var cells = (cellTiles ? C.tiles.layer(cellTiles, "cells", { style: L.extend({ fill: true }, cellStyle), minZoom: 16 })
    : L.geoJSON(null, { style: cellStyle, interactive: false })).addTo(map);
  var districts = L.geoJSON(null, { style: { color: "#0b3d63", weight: 2, fill: false }, interactive: false }).addTo(map);
  var unitLayer = L.layerGroup().addTo(map);
  var layerNames = {};
  layerNames[text.layerCells] = cells; layerNames[text.layerDistricts] = districts; layerNames[text.layerCases] = clusters;
  // Every case the filters match, not only the list's first 500: from the vector tiles (counts per square below zoom
  // 15, each case from it, a click opens it), an overlay to switch on.
  var caseTiles = C.tiles && C.tiles.url(cfg, "cases"), allCases = null;
  if (caseTiles) {
    if (!map.getPane("caseTiles")) map.createPane("caseTiles").style.zIndex = 460;
    allCases = C.tiles.layer(caseTiles + "?" + tileQuery(), "cases", { interactive: true, pane: "caseTiles",
      style: function (p) {
        var late = p.count ? p.overdue > 0 : p.overdue, n = p.count || 1;
        return { radius: p.count ? Math.min(6 + Math.sqrt(n), 24) : 6, fill: true, fillOpacity: 0.7, weight: 1,
                 color: "#fff", fillColor: late ? "#e31a1c" : (p.urgency === "emergency" || p.emergency ? "#ff7f00" : "#1f78b4") };
      } });
    allCases.on("click", function (e) {
      var p = e.layer.properties;
      if (p.number) open(p.number, false);
      else map.setView(e.latlng, Math.min(map.getZoom() + 2, 18));
    });
    layerNames[text.layerAllCases] = allCases;
    window.cityGridAllCases = allCases;
  }
  window.cityGridLayers = L.control.layers(null, layerNames).addTo(map);  // sensors.js adds its layer
  var markers = {}, current = null;

  // ---- reference data for the filters
  // A district's centre works its own district: the area filter offers it and its streets, not the whole city.
  C.features(cfg.apiAreas + "?level=district&zoom=12&page_size=100", datum).then(function (fc) {
    fc.features = fc.features.filter(function (f) { return !cfg.district || f.id === cfg.district; });
    fc.features.forEach(function (f) {
      $("f-area").insertAdjacentHTML("beforeend", '<option value="' + C.esc(f.id) + '">' + C.esc(f.properties.name) + "</option>");
    });
    districts.addData(fc);
    if (districts.getLayers().length) map.fitBounds(districts.getBounds());
    if (!cfg.district) return;
    return C.features(cfg.apiAreas + "?level=street&parent=" + encodeURIComponent(cfg.district) + "&zoom=10&page_size=500", datum).then(function (s) {
      s.features.forEach(function (f) {
        $("f-area").insertAdjacentHTML("beforeend", '<option value="' + C.esc(f.id) + '">　' + C.esc(f.properties.name) + "</option>");
      });
    });
  }).catch(function () { /* refused or offline: the filter offers no area */ });
  C.rows(cfg.apiBureaus + "?page_size=500").then(function (list) {
    list.forEach(function (b) {
      $("f-bureau").insertAdjacentHTML("beforeend", '<option value="' + C.esc(b.code) + '">' + C.esc(b.name) + "</option>");
    });
    bureaus = list;
  }).catch(function () { /* refused or offline: the filter offers no bureau */ });
  var bureaus = [];
  C.api(cfg.apiCatalogue).then(function (r) {
    C.majorOptions($("f-class"), r.ok ? (r.data.results || r.data) : []);
  });

  function refreshCells() {
    if (cellTiles) return;
    if (map.getZoom() < 16) { cells.clearLayers(); return; }
    var b = map.getBounds(), sw = datum.toStored(b.getSouthWest()), ne = datum.toStored(b.getNorthEast());
    C.api(cfg.apiCells + "?page_size=2000&zoom=" + map.getZoom() + "&bbox=" + [sw[0], sw[1], ne[0], ne[1]].join(",")).then(function (r) {
      if (!r.ok) return;
      cells.clearLayers();
      r.data.features.forEach(function (f) { f.geometry = datum.geometry(f.geometry); });
      cells.addData(r.data);
    });
  }
  map.on("moveend", refreshCells);

  // ---- the list and the markers
  function tileQuery() {  // the filters, as the case list takes them (the tiles default to open cases too)
    var form = new FormData($("filters")), params = new URLSearchParams();
    form.forEach(function (v, k) { if (v) params.append(k, v); });
    return params.toString();
  }
  function query() {
    var form = new FormData($("filters")), params = new URLSearchParams();
    form.forEach(function (v, k) { if (v) params.append(k, v); });
    if (!params.get("status")) params.set("status", OPEN.join(","));
    params.set("page_size", "500");
    return params.toString();
  }
  function icon(p) {
    return L.divIcon({ className: "pin status-" + p.status + " sla-" + p.sla + (p.urgency === "emergency" ? " emergency" : ""),
                       iconSize: [18, 18], html: "" });
  }
  function rowHtml(f) {
    var p = f.properties;
    return '<li data-number="' + C.esc(f.id) + '" class="sla-' + C.esc(p.sla) + (current === f.id ? " current" : "") + '">' +
      '<span class="light" aria-label="' + C.esc(p.sla) + '"></span><strong>' + C.esc(f.id) + "</strong> " +
      C.esc(p.category_name) + '<br><small>' + C.esc(p.status_label) + " · " +
      C.esc((p.created_at || "").slice(5, 16).replace("T", " ")) + (p.bureau_name ? " · " + C.esc(p.bureau_name) : "") +
      (p.urgency !== "normal" ? ' · <b class="urgency">' + C.esc(cfg.urgencies[p.urgency] || p.urgency) + "</b>" : "") + "</small></li>";
  }
  var loadTicket = 0;
  function load() {
    var ticket = ++loadTicket;
    return C.api(cfg.apiCases + "?" + query()).then(function (r) {
      if (ticket !== loadTicket || !r.ok) return;
      clusters.clearLayers(); markers = {};
      $("count").textContent = r.data.count;
      $("list").innerHTML = (r.data.features.length ? r.data.features.map(rowHtml).join("") : "<li>" + C.esc(text.none) + "</li>") +
        // the list holds the first 500 (the map's squares count them all): say so, and how to reach the rest
        (r.data.count > r.data.features.length ? '<li class="more">' + C.esc(text.more.replace("%(n)s", r.data.features.length)) + "</li>" : "");
      r.data.features.forEach(function (f) {
        var c = f.geometry.coordinates, m = L.marker(datum.toDisplay(c[0], c[1]), { icon: icon(f.properties), title: f.id });
        m.on("click", function () { open(f.id); });
        markers[f.id] = m;
        clusters.addLayer(m);
      });
      $("list").dataset.loaded = String(Date.now());
    });
  }
  $("filters").addEventListener("change", load);
  $("filters").addEventListener("change", function () {
    if (allCases) allCases.setUrl(caseTiles + "?" + tileQuery());
  });
  $("list").addEventListener("click", function (e) {
    var li = e.target.closest("[data-number]");
    if (li) open(li.dataset.number, true);
  });

  // ---- the case panel
  // The actions in three groups, apart: the ones that move the case on (with the bureau and a note), the ones that
  // need a reason, and the merge, folded away so that it is never one slip from 派遣.
  var ACTIONS = {
    register: { group: "act" }, dispatch: { group: "act", bureau: true }, approve_postponement: { group: "act" },
    close: { group: "act" }, accept: { group: "act" }, reject: { group: "act-reason", reason: true },
    return: { group: "act-reason", reason: true }, deny_postponement: { group: "act-reason", reason: true },
    cancel: { group: "act-reason", reason: true }, merge: { group: "act-merge", into: true }
  };
  function open(number, pan, live) {
    current = number;
    if (!live) $("panel").dataset.dirty = "";  // opened by the dispatcher: whatever was typed before is dropped
    document.querySelectorAll("#list li").forEach(function (li) { li.classList.toggle("current", li.dataset.number === number); });
    return C.api(cfg.apiCase + encodeURIComponent(number) + "/").then(function (r) {
      if (number !== current) return;  // another case was opened meanwhile: this answer is stale
      if (live && dirty()) return;  // the dispatcher started on the form meanwhile: leave it be
      if (!r.ok) { $("panel").hidden = true; return; }
      // An answer older than the case on screen (an action was answered meanwhile) is dropped.
      if ($("panel").dataset.number === number && r.data.properties.version < Number($("panel").dataset.version)) return;
      render(r.data);
      // Close enough that the marker stands alone (zoomToShowLayer breaks if the list reloads meanwhile).
      if (pan && markers[number]) map.setView(markers[number].getLatLng(), Math.max(map.getZoom(), 17), { animate: false });
    });
  }
  function render(f, message) {
    var p = f.properties, el = $("panel");
    el.hidden = false;
    el.dataset.number = f.id;
    el.dataset.version = p.version;
    var actions = (p.allowed_actions || []).filter(function (a) { return ACTIONS[a]; });
    var suggested = p.routing && p.routing.bureau;
    el.innerHTML =
      '<button type="button" class="close-panel" aria-label="close">×</button>' +
      "<h2>" + C.esc(f.id) + " <small>" + C.esc(p.status_label) + "</small></h2>" +
      (message ? '<p class="error conflict" role="alert">' + C.esc(message) + "</p>" : "") +
      '<p class="sla-' + C.esc(p.sla) + '"><span class="light"></span> ' + C.esc(p.category_name) + " · " + C.esc(cfg.urgencies[p.urgency] || p.urgency) +
      (p.deadline ? " · " + C.esc(text.deadline) + " " + C.esc(p.deadline.slice(0, 16).replace("T", " ")) : "") +
      (p.bureau_name ? " · " + C.esc(text.responsible) + " " + C.esc(p.bureau_name) : "") + "</p>" +
      "<p>" + C.esc(p.description) + "</p>" +
      "<p>" + C.esc(p.place) + (p.address ? " · " + C.esc(p.address) : "") + (p.cell ? " <small>" + C.esc(text.cell) + " " + C.esc(p.cell) + "</small>" : "") + "</p>" +
      (p.contact && (p.contact.name || p.contact.phone) ? "<p>☎ " + C.esc(p.contact.name) + " " + C.esc(p.contact.phone) + "</p>" : "") +
      '<div class="photos">' + (p.photos || []).map(function (ph) {
        return '<a href="' + C.esc(ph.url) + '" target="_blank" rel="noopener"><img src="' + C.esc(ph.thumbnail_url) + '" alt=""></a>';
      }).join("") + "</div>" +
      (p.routing ? '<p class="routing"><b>' + C.esc(text.routing) + ":</b> " + C.esc(p.routing.explanation) + "</p>" : "") +
      (p.likely_duplicates && p.likely_duplicates.length ? '<p class="dups"><b>' + C.esc(text.duplicates) + ":</b> " +
        p.likely_duplicates.map(function (n) { return '<a href="#" data-open="' + C.esc(n) + '">' + C.esc(n) + "</a>"; }).join(", ") + "</p>" : "") +
      (p.component || BURST_NETWORKS[p.category] ? '<div id="case-component"></div>' : "") +
      actionForms(actions, p, suggested) +
      '<div id="units"></div>' +
      '<details><summary>' + C.esc(text.log) + " (" + (p.log || []).length + ")</summary><ol class='log'>" + (p.log || []).map(function (l) {
        return "<li>" + C.esc(l.created_at.slice(5, 16).replace("T", " ")) + " " + C.esc(cfg.logActions[l.action] || l.action) + " " + C.esc(l.actor || "") +
          (l.note ? " — " + C.esc(l.note) : "") + "</li>";
      }).join("") + "</ol></details>";
    if (cfg.canDispatchUnits && (p.urgency === "emergency" || p.urgency === "urgent")) loadUnits(f.id);
    if (p.component) loadComponent(f.id, p.component);
    else if (BURST_NETWORKS[p.category] && cfg.apiUnder) loadBurst(f.id, f.geometry.coordinates, BURST_NETWORKS[p.category]);
  }
  function valvesHtml(iso) {
    return '<p class="case-valves"><b>' + C.esc(text.valvesToClose) + "</b> " + iso.valves.map(function (v) {
      return '<span data-valve="' + C.esc(v.code) + '">' + C.esc(v.code) + "</span>"; }).join(", ") + " · " +
      C.esc(text.customersCut) + " " + iso.customers + "</p>";
  }
  // A burst main or a gas leak reported at a place (no component picked): the nearest pipe of that network in use
  // near it, and the valves a burst there closes — what the crew goes to shut first.
  var BURST_NETWORKS = { SJ0402: "water", SJ0403: "gas" };
  function loadBurst(number, at, kind) {
    var box = function () { return $("panel").dataset.number === number ? $("case-component") : null; };
    C.api(cfg.apiUnder + "?lon=" + at[0] + "&lat=" + at[1] + "&radius=" + cfg.burstRadius).then(function (r) {
      if (!r.ok || !box()) return null;
      var pipe = r.data.segments.filter(function (s) { return s.network_kind === kind && s.status === "in_use"; })[0];
      if (!pipe) { box().innerHTML = "<p>" + C.esc(text.noPipeNear) + "</p>"; return null; }
      return C.api(cfg.apiSegments + encodeURIComponent(pipe.code) + "/isolation").then(function (r2) {
        if (!r2.ok || !box()) return;
        var iso = r2.data;
        box().innerHTML = '<p class="case-pipe" data-segment="' + C.esc(pipe.code) + '"><b>' + C.esc(text.nearestPipe) +
          "</b> " + C.esc(pipe.network) + " " + C.esc(pipe.code) + (pipe.diameter_mm ? " DN" + pipe.diameter_mm : "") +
          (pipe.material ? " " + C.esc(pipe.material) : "") + " · " + pipe.distance_m + " m</p>" + valvesHtml(iso);
        if (window.cityGridShowIsolation) window.cityGridShowIsolation(iso);
      });
    }).catch(function () { /* the panel shows the case without it */ });
  }
  // The census component the case is about; for a point of a water or gas network, the valves a burst there closes.
  function loadComponent(number, code) {
    C.api(cfg.apiComponent + encodeURIComponent(code) + "/").then(function (r) {
      var box = $("case-component");
      if (!r.ok || !box || $("panel").dataset.number !== number) return;
      var c = r.data, iso = c.pipe && c.pipe.isolation;
      box.innerHTML = "<p><b>" + C.esc(text.component) + ":</b> " + C.esc(c.subclass_name) + " " + C.esc(c.name || "") +
        " <small>" + C.esc(c.code) + " · " + C.esc(c.status_label) + "</small></p>" +
        (iso ? valvesHtml(iso) : "");
      if (iso && window.cityGridShowIsolation) window.cityGridShowIsolation(iso);
    }).catch(function () { /* the panel shows the case without it */ });
  }
  function actionForms(actions, p, suggested) {
    function buttons(group) {
      return actions.filter(function (a) { return ACTIONS[a].group === group; }).map(function (a) {
        return '<button type="button" data-action="' + a + '">' + C.esc(cfg.actions[a] || a) + "</button>";
      }).join("");
    }
    var main = buttons("act"), reasoned = buttons("act-reason"), merge = buttons("act-merge");
    return (main ? '<form id="act" class="actions">' +
        (actions.indexOf("dispatch") >= 0 ? '<label class="opt bureau">' + C.esc(text.bureau) + ' <select name="bureau">' +
          // a city bureau serves every district, a district's bureau its own (incidents.lifecycle.bureau_serves)
          bureaus.filter(function (b) { return !b.district || b.district === p.district; }).map(function (b) {
            return '<option value="' + C.esc(b.code) + '"' + (b.code === suggested ? " selected" : "") + ">" + C.esc(b.name) + "</option>";
          }).join("") + "</select></label>" : "") +
        '<label class="opt note">' + C.esc(text.note) + ' <input name="note"></label>' +
        '<div class="buttons">' + main + "</div></form>" : "") +
      (reasoned ? '<form id="act-reason" class="actions secondary"><label class="opt reason">' + C.esc(text.reason) +
        ' <input name="reason"></label><div class="buttons">' + reasoned + "</div></form>" : "") +
      (merge ? '<details class="merge"><summary>' + C.esc(text.mergeTitle) + '</summary><form id="act-merge" class="actions">' +
        '<label class="opt into">' + C.esc(text.into) + ' <input name="into" value="' + C.esc((p.likely_duplicates || [])[0] || "") + '"></label>' +
        '<div class="buttons">' + merge + "</div></form></details>" : "");
  }
  function dirty() { return $("panel").dataset.dirty === "1"; }
  ["input", "change"].forEach(function (kind) {
    $("panel").addEventListener(kind, function (e) { if (e.target.closest("form")) $("panel").dataset.dirty = "1"; });
  });
  $("panel").addEventListener("click", function (e) {
    if (e.target.closest(".close-panel")) { $("panel").hidden = true; current = null; return; }
    var link = e.target.closest("[data-open]");
    if (link) { e.preventDefault(); open(link.dataset.open, true); return; }
    var b = e.target.closest("[data-action]");
    if (b) { act(b.dataset.action); return; }
    var send = e.target.closest("[data-send]");
    if (send) sendUnits($("panel").dataset.number, [send.dataset.send]);
  });
  function act(action) {
    var el = $("panel"), spec = ACTIONS[action] || {}, form = new FormData($(spec.group || "act"));
    var number = el.dataset.number, body = { version: Number(el.dataset.version), note: form.get("note") || "" };
    if (spec.reason) body.reason = form.get("reason") || "";
    if (spec.bureau) body.bureau = form.get("bureau");
    if (spec.into) body.into = form.get("into");
    Array.prototype.forEach.call(el.querySelectorAll("[data-action]"), function (x) { x.disabled = true; });
    C.api(cfg.apiCase + encodeURIComponent(number) + "/" + action + "/", { method: "POST", body: body }).then(function (r) {
      if (r.ok) { el.dataset.dirty = ""; render(r.data); load(); return; }
      if (r.status === 409) {
        el.dataset.dirty = "";  // changed by someone else: say so plainly and show the case as it is now
        return C.api(cfg.apiCase + encodeURIComponent(number) + "/").then(function (fresh) {
          if (fresh.ok) render(fresh.data, text.conflict);
          load();
        });
      }
      Array.prototype.forEach.call(el.querySelectorAll("[data-action]"), function (x) { x.disabled = false; });
      // A field's message beside that field (the reason, the note, the bureau, the case to merge into), the
      // field focused; any other message at the top of the panel.
      Array.prototype.forEach.call(el.querySelectorAll(".field-error"), function (x) { x.remove(); });
      var form = $(spec.group || "act"), placed = false, rest = {};
      Object.keys(r.data && typeof r.data === "object" ? r.data : {}).forEach(function (k) {
        var input = form && form.querySelector("[name='" + k + "']");
        if (!input) { rest[k] = r.data[k]; return; }
        var hint = document.createElement("span");
        hint.className = "error field-error"; hint.setAttribute("role", "alert");
        hint.textContent = C.errorsText(r.data[k]);
        (input.closest("label") || input).after(hint);
        if (!placed) input.focus();
        placed = true;
      });
      var left = placed ? C.errorsText(rest) : C.errorsText(r.data), msg = el.querySelector(".conflict");
      if (!left) { if (msg) msg.remove(); return; }
      msg = msg || document.createElement("p");
      msg.className = "error conflict"; msg.setAttribute("role", "alert");
      msg.textContent = left;
      el.querySelector("h2").after(msg);
    });
  }

  // ---- emergencies: nearest available units, one-click send
  function loadUnits(number) {
    C.api(cfg.apiUnits + encodeURIComponent(number) + "/nearest-units/?limit=5").then(function (r) {
      var box = $("units");
      if (!box || !r.ok) return;
      unitLayer.clearLayers();
      box.innerHTML = "<h3>" + C.esc(text.nearest) + "</h3>" + (r.data.units.length ? "<ul class='units'>" + r.data.units.map(function (u) {
        if (u.lon !== null) L.circleMarker(datum.toDisplay(u.lon, u.lat), { radius: 7, color: "#6a3d9a", fillOpacity: 0.8 })
          .bindTooltip(u.name).addTo(unitLayer);
        return "<li>" + C.esc(u.name) + " · " + C.esc(u.distance_m) + " m <button type='button' data-send='" + C.esc(u.code) + "'>" +
          C.esc(text.send) + "</button></li>";
      }).join("") + "</ul>" : "<p>" + C.esc(text.noUnits) + "</p>");
    });
  }
  function sendUnits(number, codes) {
    C.api(cfg.apiUnits + encodeURIComponent(number) + "/units/", { method: "POST", body: { units: codes } }).then(function (r) {
      if (!r.ok) alert(C.errorsText(r.data));
      open(number);
    });
  }
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)(), o = ctx.createOscillator(), g = ctx.createGain();
      o.type = "square"; o.frequency.value = 880; g.gain.value = 0.1;
      o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.6);
    } catch (e) { /* no sound device: the banner still shows */ }
  }
  function announceEmergency(ev) {
    beep();
    var b = $("banner");
    b.hidden = false;
    b.dataset.number = ev.case.number;
    b.innerHTML = C.esc(text.emergency) + ": <a href='#' data-open='" + C.esc(ev.case.number) + "'>" + C.esc(ev.case.number) +
      "</a> " + C.esc(ev.case.category_name) + " <button type='button' class='dismiss'>×</button>";
  }
  $("banner").addEventListener("click", function (e) {
    if (e.target.closest(".dismiss")) { $("banner").hidden = true; return; }
    var link = e.target.closest("[data-open]");
    if (link) { e.preventDefault(); open(link.dataset.open, true); }
  });

  // ---- live: the case log as a stream; on any event the list reloads (debounced) and the open case refreshes
  var lastId = 0, pending = null, seen = new Set();
  function onEvent(ev) {
    // A reconnected stream re-reads its last seconds (ids can commit out of order): each event counts once.
    if (seen.has(ev.id)) return;
    seen.add(ev.id);
    if (seen.size > 5000) seen = new Set(Array.from(seen).slice(-1000));
    lastId = Math.max(lastId, ev.id);
    document.body.dataset.lastEvent = lastId;  // how far the feed has been read (the tests wait on it)
    if (ev.case.emergency && ev.action === "report") announceEmergency(ev);
    document.dispatchEvent(new CustomEvent("citygrid:event", { detail: ev }));  // the sensor layer follows the feed
    clearTimeout(pending);
    pending = setTimeout(load, 300);
    // Refresh the open case, unless the dispatcher has started filling in its form (a stale version then gets a
    // 409, said plainly, rather than the form changing under the cursor).
    if (current === ev.case.number && !dirty()) open(current, false, true);
  }
  function connect() {
    if (!window.EventSource) { poll(); return; }
    // refused: poll for a while, then try the stream again
    C.liveFeed(cfg.apiStream + "?after=" + lastId, $("live"), onEvent, function () { poll(6); setTimeout(connect, 30000); });
  }
  function poll(times) {
    C.api(cfg.apiEvents + "?after=" + lastId).then(function (r) {
      if (r.ok) r.data.events.forEach(onEvent);
    }).finally(function () {
      if (times === undefined || times > 1) setTimeout(function () { poll(times && times - 1); }, 5000);
    });
  }
  C.api(cfg.apiEvents + "?limit=1").then(function (r) {
    if (r.ok) r.data.events.forEach(function (e) { lastId = Math.max(lastId, e.id); seen.add(e.id); });
  }).finally(function () { load().then(connect); });
})();
