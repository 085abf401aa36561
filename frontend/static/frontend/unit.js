// A crew's phone (处置力量): on or off duty; while on duty and while this page is open, the position is shared
// every few seconds (no background tricks); an assignment arrives through the case feed and is announced; one big
// button for each step of the command chain: acknowledge, arrive, clear.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text, unitUrl = cfg.apiUnits + encodeURIComponent(cfg.unit) + "/";
  var map = C.baseMap($("map"), cfg, { zoomControl: false });
  window.cityGridMap = map;
  var unit = null, fix = null, me = null, target = null, announced = null;
  $("position").textContent = text.waitingGps;

  function time(iso) {  // 24-hour HH:MM in the phone's time, whatever the browser's own language
    if (!iso) return "";
    var d = new Date(iso), pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  // ---- the unit and its assignment
  function render(data) {
    unit = data;
    var duty = $("duty");
    duty.setAttribute("aria-pressed", String(unit.on_duty));
    duty.textContent = unit.on_duty ? text.onDuty + " · " + text.goOff : text.offDuty + " · " + text.goOn;
    duty.className = "duty " + (unit.on_duty ? "on" : "off");
    duty.disabled = unit.state === "busy";  // on a task: on duty until it is cleared
    $("crew").dataset.state = unit.state;
    if (!unit.on_duty) $("position").textContent = text.notShared;
    var a = unit.assignment, task = $("task");
    if (!a) {
      task.innerHTML = "<p>" + C.esc(text.noTask) + "</p>";
      task.dataset.assignment = "";
      if (target) { target.remove(); target = null; }
      return;
    }
    var c = a.case;
    task.dataset.assignment = a.id;
    task.dataset.step = a.next_step || "";
    task.innerHTML =
      "<h2>" + C.esc(c.category_name) + ' <b class="tag urgency">' + C.esc(c.urgency_label) + "</b></h2>" +
      "<p><small>" + C.esc(c.number) + "</small> " + C.esc(c.place) + (c.address ? " · " + C.esc(c.address) : "") + "</p>" +
      (c.description ? "<p>" + C.esc(c.description) + "</p>" : "") +
      '<ol class="steps">' +
        "<li>" + C.esc(text.dispatchedAt) + " " + C.esc(time(a.dispatched_at)) + "</li>" +
        (a.acknowledged_at ? "<li>" + C.esc(text.acknowledgedAt) + " " + C.esc(time(a.acknowledged_at)) + "</li>" : "") +
        (a.arrived_at ? "<li>" + C.esc(text.arrivedAt) + " " + C.esc(time(a.arrived_at)) + "</li>" : "") + "</ol>" +
      (a.next_step ? '<button type="button" class="big primary step" id="step" data-step="' + C.esc(a.next_step) + '">' +
        C.esc(text[a.next_step]) + "</button>" : "") +
      '<p class="error" id="step-error" aria-live="assertive"></p>';
    var shown = datum.toDisplay(c.lon, c.lat);
    if (!target) target = L.marker(shown, { title: c.category_name }).addTo(map); else target.setLatLng(shown);
    map.setView(shown, Math.max(map.getZoom(), 15));
    if (announced !== a.id && !a.acknowledged_at) announce(a);
  }
  function refresh() {
    return C.api(unitUrl).then(function (r) { if (r.ok) render(r.data); });
  }
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)(), o = ctx.createOscillator(), g = ctx.createGain();
      o.type = "square"; o.frequency.value = 880; g.gain.value = 0.1;
      o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.6);
    } catch (e) { /* no sound device: the banner still shows */ }
    if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
  }
  function announce(a) {
    announced = a.id;
    beep();
    $("banner").hidden = false;
    $("banner").textContent = text.newTask + ": " + a.case.category_name + " " + a.case.number;
  }

  $("duty").addEventListener("click", function () {
    if (!unit) return;
    C.api(unitUrl + "duty/", { method: "POST", body: { on_duty: !unit.on_duty } }).then(function (r) {
      if (r.ok) { render(r.data); share(); } else { $("position").textContent = C.errorsText(r.data); }
    });
  });
  $("task").addEventListener("click", function (e) {
    var b = e.target.closest("[data-step]");
    if (!b || !unit || !unit.assignment) return;
    b.disabled = true;
    $("banner").hidden = true;
    C.api(cfg.apiAssignments + unit.assignment.id + "/" + b.dataset.step + "/", { method: "POST" }).then(function (r) {
      if (r.ok) return refresh();
      // Already recorded (by the command centre on the radio, or a second tap): show the assignment as it is.
      return refresh().then(function () { var err = $("step-error"); if (err) err.textContent = text.stepFailed; });
    }, function () { b.disabled = false; $("step-error").textContent = text.offline; });
  });

  // ---- the position, shared every few seconds while on duty and the page is open
  function share() {
    if (!unit || !unit.on_duty || !fix) return;
    C.api(unitUrl + "position/", { method: "POST", body: { lon: fix.lon, lat: fix.lat } }).then(function (r) {
      var el = $("position");
      el.textContent = r.ok ? text.shared + " " + time(new Date().toISOString()) : C.errorsText(r.data);
      el.dataset.shared = r.ok ? String(Date.now()) : "";
    }, function () { $("position").textContent = text.offline; });
  }
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(function (p) {
      var first = !fix;
      fix = { lon: p.coords.longitude, lat: p.coords.latitude };
      var shown = datum.toDisplay(fix.lon, fix.lat);
      if (!me) {
        me = L.circleMarker(shown, { radius: 8, color: "#1565c0", fillOpacity: 0.9 }).addTo(map);
        if (!target) map.setView(shown, 15);
      } else {
        me.setLatLng(shown);
      }
      if (first) share();
    }, function () { $("position").textContent = text.noGps; }, { enableHighAccuracy: true, maximumAge: 10000 });
  } else {
    $("position").textContent = text.noGps;
  }
  setInterval(share, cfg.positionSeconds * 1000);

  // ---- live: the case feed follows the cases this unit is sent to; any event of ours reloads the assignment
  var lastId = 0, pending = null, seen = new Set();
  function onEvent(ev) {
    if (seen.has(ev.id)) return;
    seen.add(ev.id);
    lastId = Math.max(lastId, ev.id);
    document.body.dataset.lastEvent = lastId;
    var ours = ev.action === "units_sent" || (unit && unit.assignment && unit.assignment.case.number === ev.case.number);
    if (!ours) return;
    clearTimeout(pending);
    pending = setTimeout(refresh, 200);
  }
  function connect() {
    if (!window.EventSource) { poll(); return; }
    var source = new EventSource(cfg.apiStream + "?after=" + lastId);
    ["case", "emergency"].forEach(function (kind) {
      source.addEventListener(kind, function (m) { onEvent(JSON.parse(m.data)); });
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) { poll(6); setTimeout(connect, 30000); }
    };
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
  }).finally(function () { refresh().then(function () { share(); connect(); }); });
})();
