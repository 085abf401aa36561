// The bureau's workbench (专业部门工作台), one page for the desk and the field crew's phone: the queue of cases
// dispatched to the bureau, most urgent deadline first, on a list and a map; the open case with exactly the
// actions the lifecycle allows now (accept, return, request a postponement, report processed with after-photos
// resized on the device); live through the case feed, new dispatches and escalations announced.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text;
  var map = C.baseMap($("map"), cfg);
  window.cityGridMap = map;
  var pins = L.featureGroup().addTo(map), markers = {}, rows = {}, current = null, fitted = false;
  var outlines = L.geoJSON(null, { style: { color: "#0b3d63", weight: 1.5, fill: false }, interactive: false }).addTo(map);
  C.features(cfg.apiAreas + "?level=district&zoom=12&page_size=100", datum).then(function (fc) {
    outlines.addData(fc);
    if (!fitted && !pins.getLayers().length && outlines.getLayers().length) map.fitBounds(outlines.getBounds(), { animate: false });
  }).catch(function () { /* refused or offline: the page works without the outlines */ });

  // ---- the queue
  function query() {
    var form = new FormData($("filters")), params = new URLSearchParams();
    form.forEach(function (v, k) { if (v) params.append(k, v); });
    return params.toString();
  }
  function hours(row) {
    if (row.status === "processed") return text.waiting;
    if (row.hours_left === null || row.hours_left === undefined) return text.noDeadline;
    return (row.hours_left >= 0 ? text.hoursLeft : text.hoursOver).replace("%(h)s", Math.abs(row.hours_left).toFixed(1));
  }
  function badges(row) {
    var out = "";
    if (row.escalation && row.escalation.level === "overdue") out += ' <b class="tag escalated">' + C.esc(text.escalated) + "</b>";
    else if (row.escalation) out += ' <b class="tag warned">' + C.esc(text.warned) + "</b>";
    if (row.rework_count) out += ' <b class="tag">' + C.esc(text.rework) + " " + row.rework_count + "</b>";
    if (row.urgency !== "normal") out += ' <b class="tag urgency">' + C.esc(row.urgency_label) + "</b>";
    return out;
  }
  function rowHtml(row) {
    return '<li data-number="' + C.esc(row.number) + '" class="sla-' + C.esc(row.sla) + (current === row.number ? " current" : "") + '">' +
      '<span class="light"></span><strong>' + C.esc(row.category_name) + "</strong>" + badges(row) +
      '<br><small>' + C.esc(row.number) + " · " + C.esc(row.status_label) + " · " + C.esc(row.place) + "</small>" +
      '<br><span class="left">' + C.esc(hours(row)) + "</span>" +
      (row.deadline ? ' <small>(' + C.esc(text.deadline) + " " + C.esc(row.deadline.slice(5, 16).replace("T", " ")) + ")</small>" : "") + "</li>";
  }
  function icon(row) {
    return L.divIcon({ className: "pin status-" + row.status + " sla-" + row.sla + (row.urgency === "emergency" ? " emergency" : ""),
                       iconSize: [18, 18], html: "" });
  }
  var loadTicket = 0;
  function load() {
    var ticket = ++loadTicket;
    return C.api(cfg.apiQueue + "?" + query()).then(function (r) {
      if (ticket !== loadTicket || !r.ok) return;
      var inView = function () { return pins.getLayers().some(function (m) { return map.getBounds().contains(m.getLatLng()); }); };
      var hadInView = inView();
      rows = {}; markers = {};
      pins.clearLayers();
      $("count").textContent = r.data.count;
      $("queue").innerHTML = r.data.results.length ? r.data.results.map(rowHtml).join("") : "<li>" + C.esc(text.none) + "</li>";
      r.data.results.forEach(function (row) {
        rows[row.number] = row;
        var m = L.marker(datum.toDisplay(row.lon, row.lat), { icon: icon(row), title: row.category_name });
        m.on("click", function () { open(row.number); });
        markers[row.number] = m.addTo(pins);
      });
      // Fitted to the queue at first, and again when the view held some of it and now holds none (the case shown
      // was done and left the filtered queue, a filter took the rest elsewhere); a view panned on purpose to an
      // empty spot stays where it is.
      if (pins.getLayers().length && (!fitted || (hadInView && !inView()))) {
        map.fitBounds(pins.getBounds(), { maxZoom: 16, padding: [20, 20], animate: false });
        fitted = true;
      }
      $("queue").dataset.loaded = String(Date.now());
    });
  }
  $("filters").addEventListener("change", load);
  $("queue").addEventListener("click", function (e) {
    var li = e.target.closest("[data-number]");
    if (li) open(li.dataset.number, true);
  });

  // ---- the case and its actions
  var photos = { number: null, blobs: [] };
  function open(number, pan, live) {
    current = number;
    document.querySelectorAll("#queue li").forEach(function (li) { li.classList.toggle("current", li.dataset.number === number); });
    return C.api(cfg.apiCase + encodeURIComponent(number) + "/").then(function (r) {
      if (number !== current) return;  // another case was opened meanwhile
      if (!r.ok) { closePanel(); return; }
      var fresh = $("panel").hidden || $("panel").dataset.number !== number, shown = Number($("panel").dataset.version);
      // An answer older than the case on screen (an action was answered meanwhile) is dropped; a live refresh that
      // brings nothing new leaves the panel (and what it says) as it is.
      if (!fresh && (r.data.properties.version < shown || (live && r.data.properties.version === shown))) return;
      render(r.data);
      if (fresh) {
        map.invalidateSize();  // the panel took its place beside (a desk) or below (a phone) the map
        document.querySelector("main").scrollTop = 0;  // a phone: the map and the top of the case
      }
      if (pan && markers[number]) map.setView(markers[number].getLatLng(), Math.max(map.getZoom(), 16), { animate: false });
    });
  }
  function closePanel() {
    $("panel").hidden = true;
    document.body.classList.remove("panel-open");
    current = null;
    map.invalidateSize();
  }
  function field(label, html) { return '<label class="field">' + C.esc(label) + " " + html + "</label>"; }
  function localInput(date) {  // a datetime-local value in the browser's time
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }
  function render(f, message) {
    var p = f.properties, el = $("panel"), allowed = p.allowed_actions || [], row = rows[f.id] || {};
    if (photos.number !== f.id) photos = { number: f.id, blobs: [] };
    el.hidden = false;
    document.body.classList.add("panel-open");
    el.dataset.number = f.id;
    el.dataset.version = p.version;
    var later = new Date(Math.max(Date.now(), p.deadline ? Date.parse(p.deadline) : 0) + 86400000);
    el.innerHTML =
      '<button type="button" class="back">← ' + C.esc(text.back) + "</button>" +
      '<button type="button" class="close-panel back" aria-label="' + C.esc(text.close) + '">×</button>' +
      "<h2>" + C.esc(p.category_name) + " <small>" + C.esc(p.status_label) + "</small></h2>" +
      (message ? '<p class="error conflict" role="alert">' + C.esc(message) + "</p>" : "") +
      '<p class="sla-' + C.esc(p.sla) + '"><span class="light"></span> ' + C.esc(f.id) + " · " +
        C.esc(cfg.urgencies[p.urgency] || p.urgency) +
        (row.number ? " · <b>" + C.esc(hours(row)) + "</b>" : "") + badges(row) + "</p>" +
      (p.deadline ? "<p>" + C.esc(text.deadline) + " " + C.esc(p.deadline.slice(0, 16).replace("T", " ")) + "</p>" : "") +
      (p.postponement_until ? "<p>" + C.esc(text.postponing) + " " + C.esc(p.postponement_until.slice(0, 16).replace("T", " ")) + "</p>" : "") +
      "<p>" + C.esc(p.description) + "</p>" +
      "<p><b>" + C.esc(text.place) + ":</b> " + C.esc(p.place || "") + (p.address ? " · " + C.esc(p.address) : "") + "</p>" +
      '<div class="photos">' + (p.photos || []).map(function (ph) {
        return '<a href="' + C.esc(ph.url) + '" target="_blank" rel="noopener"><img src="' + C.esc(ph.thumbnail_url) + '" alt=""></a>';
      }).join("") + "</div>" +
      '<div class="work-actions">' +
      (allowed.indexOf("accept") >= 0 ? '<button type="button" class="big primary" data-action="accept">' + C.esc(text.accept) + "</button>" : "") +
      (allowed.indexOf("process") >= 0 ?
        '<form class="act" data-action="process"><h3>' + C.esc(text.process) + "</h3>" +
          field(text.note, '<textarea name="note" rows="2" maxlength="2000" required></textarea>') +
          '<div class="photo-buttons"><label class="big photo-button">' + C.esc(text.takePhoto) +
            '<input type="file" accept="image/*" capture="environment" hidden data-photo></label>' +
          '<label class="big photo-button">' + C.esc(text.choosePhotos) +
            '<input type="file" accept="image/*" multiple hidden data-photo></label></div>' +
          '<div class="previews" id="previews"></div>' +
          '<p class="error" aria-live="assertive"></p><button type="submit" class="big primary">' + C.esc(text.process) + "</button></form>" : "") +
      (allowed.indexOf("request_postponement") >= 0 ?
        '<details><summary>' + C.esc(text.postpone) + '</summary><form class="act" data-action="request_postponement">' +
          field(text.until, '<input type="datetime-local" name="until" required value="' + localInput(later) + '">') +
          field(text.reason, '<input name="reason" maxlength="500" required>') +
          '<p class="error" aria-live="assertive"></p><button type="submit" class="big">' + C.esc(text.postpone) + "</button></form></details>" : "") +
      (allowed.indexOf("return") >= 0 ?
        '<details><summary>' + C.esc(text.returnCase) + '</summary><form class="act" data-action="return">' +
          field(text.reason, '<input name="reason" maxlength="500" required>') +
          '<p class="error" aria-live="assertive"></p><button type="submit" class="big">' + C.esc(text.returnCase) + "</button></form></details>" : "") +
      "</div>" +
      "<details><summary>" + C.esc(text.log) + " (" + (p.log || []).length + ")</summary><ol class='log'>" + (p.log || []).map(function (l) {
        return "<li>" + C.esc(l.created_at.slice(5, 16).replace("T", " ")) + " " + C.esc(cfg.actions[l.action] || l.action) + " " +
          C.esc(l.actor || "") + (l.note ? " — " + C.esc(l.note) : "") + "</li>";
      }).join("") + "</ol></details>";
    showPreviews();
  }
  function showPreviews() {
    var box = $("previews");
    if (!box) return;
    box.innerHTML = photos.blobs.map(function (b, i) {
      return '<figure><img src="' + URL.createObjectURL(b) + '" alt=""><button type="button" data-remove="' + i + '">' + C.esc(text.remove) + "</button></figure>";
    }).join("");
    box.dataset.count = String(photos.blobs.length);
  }
  function dirty() { var el = $("panel"); return el.dataset.dirty === "1"; }
  ["input", "change"].forEach(function (kind) {
    $("panel").addEventListener(kind, function (e) { if (e.target.closest("form")) $("panel").dataset.dirty = "1"; });
  });
  $("panel").addEventListener("change", function (e) {
    if (!e.target.matches("[data-photo]")) return;
    var files = Array.prototype.slice.call(e.target.files || []), err = $("panel").querySelector("[data-action=process] .error");
    e.target.value = "";
    files.reduce(function (chain, file) {
      return chain.then(function () {
        if (photos.blobs.length >= cfg.photoMaxCount) { err.textContent = text.tooMany.replace("%(n)s", cfg.photoMaxCount); return; }
        return C.resizePhoto(file, cfg.photoMaxPixels).then(function (blob) { photos.blobs.push(blob); },
                                                            function () { err.textContent = text.badPhoto; });
      });
    }, Promise.resolve()).then(showPreviews);
  });
  $("panel").addEventListener("click", function (e) {
    if (e.target.closest(".back")) { closePanel(); return; }
    var remove = e.target.closest("[data-remove]");
    if (remove) { photos.blobs.splice(Number(remove.dataset.remove), 1); showPreviews(); return; }
    var b = e.target.closest("button[data-action]");
    if (b) act(b.dataset.action, null, b);
  });
  $("panel").addEventListener("submit", function (e) {
    e.preventDefault();
    act(e.target.dataset.action, e.target, e.target.querySelector("[type=submit]"));
  });
  function act(action, form, button) {
    var el = $("panel"), number = el.dataset.number, version = Number(el.dataset.version), body;
    var err = form ? form.querySelector(".error") : null;
    if (action === "process") {
      if (!photos.blobs.length) { err.textContent = text.needPhoto; return; }
      body = new FormData();
      body.append("version", version);
      body.append("note", new FormData(form).get("note") || "");
      photos.blobs.forEach(function (b, i) { body.append("photos", b, "after-" + (i + 1) + ".jpg"); });
    } else {
      body = { version: version };
      if (form) {
        var data = new FormData(form);
        if (data.get("reason") !== null) body.reason = data.get("reason");
        if (data.get("until")) body.until = new Date(data.get("until")).toISOString();
      }
    }
    el.querySelectorAll(".done").forEach(function (x) { x.remove(); });  // said of the previous action
    el.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
    C.api(cfg.apiCase + encodeURIComponent(number) + "/" + action + "/", { method: "POST", body: body }).then(function (r) {
      if (r.ok) {
        el.dataset.dirty = "";
        if (action === "return") { closePanel(); return load(); }  // no longer the bureau's case: out of sight
        if (action === "process") photos = { number: null, blobs: [] };
        render(r.data);
        el.querySelector("h2").insertAdjacentHTML("afterend", '<p class="ok done" role="status">' + C.esc(text.sent) + "</p>");
        return load();
      }
      if (r.status === 409) {  // changed by someone else: say so plainly and show the case as it is now
        el.dataset.dirty = "";
        return C.api(cfg.apiCase + encodeURIComponent(number) + "/").then(function (fresh) {
          if (fresh.ok) render(fresh.data, text.conflict); else closePanel();
          load();
        });
      }
      var msg = err || el.querySelector(".conflict") || document.createElement("p");
      if (!msg.parentNode) { msg.className = "error conflict"; el.querySelector("h2").after(msg); }
      msg.setAttribute("role", "alert");
      msg.textContent = C.errorsText(r.data);
      el.querySelectorAll("button").forEach(function (x) { x.disabled = false; });
    }, function () {
      el.querySelectorAll("button").forEach(function (x) { x.disabled = false; });
      if (err) err.textContent = text.offline || "";
    });
  }

  // ---- announcements: a newly dispatched case, an escalation (督办)
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)(), o = ctx.createOscillator(), g = ctx.createGain();
      o.type = "sine"; o.frequency.value = 660; g.gain.value = 0.1;
      o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.4);
    } catch (e) { /* no sound device: the banner still shows */ }
    if (navigator.vibrate) navigator.vibrate(200);
  }
  function announce(title, ev) {
    beep();
    var b = $("banner");
    b.hidden = false;
    b.dataset.number = ev.case.number;
    b.dataset.kind = ev.action;
    b.innerHTML = C.esc(title) + ": <a href='#' data-open='" + C.esc(ev.case.number) + "'>" + C.esc(ev.case.category_name) +
      " " + C.esc(ev.case.number) + "</a> <button type='button' class='dismiss' aria-label='×'>×</button>";
  }
  $("banner").addEventListener("click", function (e) {
    if (e.target.closest(".dismiss")) { $("banner").hidden = true; return; }
    var link = e.target.closest("[data-open]");
    if (link) { e.preventDefault(); $("banner").hidden = true; open(link.dataset.open, true); }
  });

  // ---- live: the case feed, scoped by the server to the bureau's cases
  var lastId = 0, pending = null, seen = new Set();
  function onEvent(ev) {
    if (seen.has(ev.id)) return;  // a reconnected stream re-reads its last seconds: each event counts once
    seen.add(ev.id);
    if (seen.size > 5000) seen = new Set(Array.from(seen).slice(-1000));
    lastId = Math.max(lastId, ev.id);
    document.body.dataset.lastEvent = lastId;
    if (ev.action === "dispatch" && ev.to_status === "dispatched") announce(text.newCase, ev);
    if (ev.action === "escalate" && cfg.receivesEscalations) announce(text.newEscalation, ev);
    clearTimeout(pending);
    pending = setTimeout(load, 300);
    if (current === ev.case.number && ev.action === "return") { closePanel(); return; }  // gone from the bureau
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
