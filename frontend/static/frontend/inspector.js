// The inspector's page: report from the phone's position with a photo; reports made without network wait in
// IndexedDB (with their client UUID, so a resend can never make a second case) and go when it returns.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text;
  // The page itself opens without network (its service worker keeps the shell).
  if ("serviceWorker" in navigator && cfg.serviceWorker) {
    navigator.serviceWorker.register(cfg.serviceWorker).catch(function () { /* not a secure context */ });
  }

  // ---- tabs
  document.querySelectorAll(".tabs [data-tab]").forEach(function (b) {
    b.addEventListener("click", function () { showTab(b.dataset.tab); });
  });
  function showTab(name) {
    document.querySelectorAll(".tabs [data-tab]").forEach(function (b) {
      b.setAttribute("aria-selected", String(b.dataset.tab === name));
    });
    document.querySelectorAll(".tab").forEach(function (s) { s.hidden = s.id !== "tab-" + name; });
    if (name === "mine") loadMine();
    if (name === "tasks") loadTasks();
    if (name === "report") map.invalidateSize();
  }

  // ---- map, GPS and the cell under the marker
  var map = C.baseMap($("map"), cfg, { zoomControl: false });
  window.cityGridMap = map;
  var position = null;  // {lon, lat, accuracy} in WGS84, as stored
  var marker = null, circle = null, manual = false, locating = 0;
  function place(lon, lat, accuracy, fromGps) {
    position = { lon: lon, lat: lat, accuracy: accuracy };
    var shown = datum.toDisplay(lon, lat);
    if (!marker) {
      marker = L.marker(shown, { draggable: true, autoPan: true }).addTo(map);
      marker.on("dragend", function () {
        manual = true;  // the inspector moved it: GPS no longer moves it back
        var p = datum.toStored(marker.getLatLng());
        place(p[0], p[1], null, false);
      });
      map.setView(shown, 18);
    } else {
      marker.setLatLng(shown);
    }
    if (circle) { circle.remove(); circle = null; }
    if (accuracy) circle = L.circle(shown, { radius: accuracy, weight: 1, fillOpacity: 0.1 }).addTo(map);
    if (fromGps && !manual) map.panTo(shown);
    locate(lon, lat);
    offerComponents();
  }
  function locate(lon, lat) {
    var ticket = ++locating;
    C.api(cfg.apiLocate + "?lon=" + lon.toFixed(7) + "&lat=" + lat.toFixed(7)).then(function (r) {
      if (ticket !== locating) return;
      var where = $("where");
      if (r.ok && r.data.cell) {
        showCell(r.data.cell.code);
        where.textContent = text.cell + " " + r.data.cell.code + " · " + (r.data.community ? r.data.community.name : "") +
          " · " + (r.data.street ? r.data.street.name : "");
        where.dataset.cell = r.data.cell.code;
      } else if (r.status === 0 || r.status >= 500) {
        where.textContent = text.positionKept;
      } else {
        where.textContent = r.ok ? text.noCell : C.errorsText(r.data);
        where.dataset.cell = "";
      }
    }).catch(function () { if (ticket === locating) $("where").textContent = text.positionKept; });
  }
  // The communities the inspector may report in, drawn from the start: without a tile server (an intranet, a
  // phone that cannot reach it) and without GPS there is then still a map to tap on; the map opens on them.
  var outlines = L.geoJSON(null, { style: { color: "#33a02c", weight: 1.5, fillOpacity: 0.04 }, interactive: false }).addTo(map);
  C.features(cfg.apiAreas + "?level=community&zoom=14&page_size=2000", datum).then(function (fc) {
    outlines.addData(fc);
    if (!marker && outlines.getLayers().length) map.fitBounds(outlines.getBounds());
  }).catch(function () { /* offline: the page works without them */ });
  var cellShape = L.geoJSON(null, { style: { color: "#e31a1c", weight: 3, fillOpacity: 0.08 }, interactive: false }).addTo(map);
  var shownCell = null;
  function showCell(code) {
    if (code === shownCell) return;
    shownCell = code;
    C.api(cfg.apiCells + encodeURIComponent(code) + "/").then(function (r) {
      if (!r.ok || shownCell !== code) return;
      r.data.geometry = datum.geometry(r.data.geometry);
      cellShape.clearLayers();
      cellShape.addData(r.data);
    }).catch(function () { shownCell = null; });
  }
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(function (p) {
      if (!manual) place(p.coords.longitude, p.coords.latitude, p.coords.accuracy, true);
    }, function () { $("where").textContent = text.noGps; }, { enableHighAccuracy: true, maximumAge: 10000 });
  } else {
    $("where").textContent = text.noGps;
  }
  map.on("click", function (e) { manual = true; var p = datum.toStored(e.latlng); place(p[0], p[1], null, false); });

  // ---- category picker: searchable by name or code, recently used first
  var categories = [], chosen = null;
  var recent = JSON.parse(localStorage.getItem("cg-recent-categories") || "[]");
  C.api(cfg.apiCatalogue).then(function (r) {
    var list = r.ok ? (r.data.results || r.data) : [];
    categories = list.filter(function (c) { return c.major; });
    localStorage.setItem("cg-catalogue", JSON.stringify(categories));
    renderChoices();
  }).catch(function () {
    categories = JSON.parse(localStorage.getItem("cg-catalogue") || "[]");  // offline: the last one seen
    renderChoices();
  });
  function renderChoices() {
    var q = $("category-search").value.trim().toLowerCase();
    var matches = categories.filter(function (c) {
      return !q || c.code.toLowerCase().indexOf(q) >= 0 || c.name_zh.indexOf(q) >= 0 ||
        (c.name_en || "").toLowerCase().indexOf(q) >= 0;
    });
    matches.sort(function (a, b) {
      var ra = recent.indexOf(a.code), rb = recent.indexOf(b.code);
      return (ra < 0 ? 99 : ra) - (rb < 0 ? 99 : rb) || a.code.localeCompare(b.code);
    });
    $("category-list").innerHTML = matches.slice(0, 8).map(function (c) {
      return '<button type="button" role="option" class="choice' + (chosen === c.code ? " chosen" : "") +
        '" data-code="' + C.esc(c.code) + '">' + C.esc(c.name_zh) + " <small>" + C.esc(c.code) + "</small></button>";
    }).join("");
  }
  $("category-search").addEventListener("input", renderChoices);
  $("category-list").addEventListener("click", function (e) {
    var b = e.target.closest("[data-code]");
    if (!b) return;
    chosen = b.dataset.code;
    $("category").value = chosen;
    var c = categories.find(function (x) { return x.code === chosen; });
    $("category-search").value = c ? c.name_zh + " " + c.code : chosen;
    renderChoices();
    offerComponents();
  });

  // ---- the census component the report is about: the nearest of the chosen subclass, one tap to pick, or "not
  // on the map" (a census change staff approve); the census layer on the map, a tap on a marker picks it too.
  var picked = { component: "", census: "" }, offerTicket = 0, offered = [];
  window.cityGridCensus = C.componentLayer(map, cfg.apiComponents, datum, { onClick: function (f) {
    if (chosen && f.properties.subclass === chosen) { picked = { component: f.properties.code, census: "" }; renderOffer(); }
  } });
  function offerComponents() {
    var box = $("component-pick");
    picked = { component: "", census: "" };
    if (!chosen || chosen.indexOf("BJ") !== 0 || !position) { box.hidden = true; offered = []; return; }
    var ticket = ++offerTicket;
    C.api(cfg.apiNearest + "?subclass=" + encodeURIComponent(chosen) + "&lon=" + position.lon.toFixed(7) + "&lat=" +
          position.lat.toFixed(7) + "&accuracy=" + Math.min(Math.round(position.accuracy || 10), 490)).then(function (r) {
      if (ticket !== offerTicket) return;
      offered = r.ok ? r.data.results : [];
      box.hidden = false;
      renderOffer();
    }).catch(function () { box.hidden = true; offered = []; });  // offline: the report goes without one
  }
  function renderOffer() {
    var buttons = offered.map(function (o) {
      return '<button type="button" role="option" class="choice' + (picked.component === o.code ? " chosen" : "") +
        '" data-component="' + C.esc(o.code) + '">' + C.esc(o.subclass_name) + " " + C.esc(o.name || "") +
        " <small>" + C.esc(o.code) + " · " + C.esc(o.distance_m) + " " + C.esc(text.metres) + " · " +
        C.esc(o.status_label) + "</small></button>";
    });
    if (!offered.length) buttons.push('<p class="hint">' + C.esc(text.noComponentNear) + "</p>");
    buttons.push('<button type="button" role="option" class="choice' + (picked.census === "new" ? " chosen" : "") +
      '" data-census="new">' + C.esc(text.notOnMap) + "</button>");
    if (picked.component) {
      buttons.push('<button type="button" class="choice' + (picked.census === "missing" ? " chosen" : "") +
        '" data-census="missing">' + C.esc(text.isMissing) + "</button>");
    }
    $("component-list").innerHTML = buttons.join("");
  }
  $("component-list").addEventListener("click", function (e) {
    var b = e.target.closest("[data-component],[data-census]");
    if (!b) return;
    if (b.dataset.component) picked = { component: b.dataset.component, census: "" };
    else if (b.dataset.census === "new") picked = { component: "", census: "new" };
    else if (b.dataset.census === "missing") picked.census = picked.census === "missing" ? "" : "missing";
    renderOffer();
  });

  // ---- photo, resized on the phone before it is sent
  var photo = null;
  $("photo").addEventListener("change", function () {
    var file = this.files[0];
    if (!file) return;
    C.resizePhoto(file, cfg.photoMaxPixels).then(function (blob) {
      photo = blob;
      $("preview").src = URL.createObjectURL(blob);
      $("preview").hidden = false;
    }).catch(function () { $("form-error").textContent = text.badPhoto; });
  });

  // ---- the outbox (IndexedDB)
  var dbReady = new Promise(function (resolve, reject) {
    var open = indexedDB.open("citygrid", 1);
    open.onupgradeneeded = function () { open.result.createObjectStore("outbox", { keyPath: "client_uuid" }); };
    open.onsuccess = function () { resolve(open.result); };
    open.onerror = function () { reject(open.error); };
  });
  function store(mode, work) {
    return dbReady.then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("outbox", mode), result = work(tx.objectStore("outbox"));
        tx.oncomplete = function () { resolve(result && result.result); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  var outbox = {
    put: function (item) { return store("readwrite", function (s) { return s.put(item); }); },
    remove: function (id) { return store("readwrite", function (s) { return s.delete(id); }); },
    all: function () { return store("readonly", function (s) { return s.getAll(); }); }
  };

  function showQueue() {
    return outbox.all().then(function (items) {
      items.sort(function (a, b) { return a.queued_at.localeCompare(b.queued_at); });
      $("queue-count").textContent = items.length;
      $("queue").innerHTML = items.map(function (i) {
        return '<li data-uuid="' + C.esc(i.client_uuid) + '">' + C.esc(i.label) + " · " +
          C.esc(localTime(i.queued_at)) + (i.error ? ' <span class="error">' + C.esc(i.error) + "</span>" : "") + "</li>";
      }).join("");
      return items;
    });
  }

  function localTime(iso) {  // queued_at is kept in UTC (it sorts); people read the phone's own time
    var d = new Date(iso), pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function send(item) {
    var form = new FormData();
    ["client_uuid", "lon", "lat", "accuracy_m", "category", "description", "urgency", "component", "census"].forEach(function (k) {
      if (item[k] !== null && item[k] !== undefined && item[k] !== "") form.append(k, item[k]);
    });
    if (item.photo) form.append("photos", item.photo, "photo.jpg");
    return C.api(cfg.apiCases, { method: "POST", body: form });
  }

  var flushing = null;
  function flush() {
    if (flushing) return flushing;  // one pass at a time: nothing is sent twice by this page
    flushing = outbox.all().then(function (items) {
      items.sort(function (a, b) { return a.queued_at.localeCompare(b.queued_at); });
      return items.reduce(function (chain, item) {
        return chain.then(function () {
          return send(item).then(function (r) {
            if (r.ok) {
              announce(item, r.data.id);
              return outbox.remove(item.client_uuid);
            }
            if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429 && r.status !== 403) {
              item.error = C.errorsText(r.data);  // refused on its merits: kept visible, not retried blindly
              item.rejected = true;
              return outbox.put(item);
            }
            // 5xx, 403 (signed out), 429: wait for the next pass
          }, function () { /* no network: stays queued */ });
        });
      }, Promise.resolve());
    }).then(function () { flushing = null; setNet(); return showQueue(); },
            function () { flushing = null; });
    return flushing;
  }
  function announce(item, number) {
    recordRecent(item.category);
    $("result").innerHTML = '<p class="ok" data-number="' + C.esc(number) + '">' + C.esc(text.sent) + " <strong>" +
      C.esc(number) + "</strong></p>";
    $("result").scrollIntoView({ block: "nearest" });  // below the form: the inspector sees it without scrolling
  }
  function recordRecent(code) {
    recent = [code].concat(recent.filter(function (c) { return c !== code; })).slice(0, 6);
    localStorage.setItem("cg-recent-categories", JSON.stringify(recent));
  }
  function setNet() {
    $("net").textContent = navigator.onLine ? "" : text.offline;
    $("net").className = navigator.onLine ? "net" : "net offline";
  }
  window.addEventListener("online", function () { setNet(); flush(); });
  window.addEventListener("offline", setNet);
  setInterval(function () { if (navigator.onLine) flush(); }, 30000);
  setNet();
  showQueue().then(function (items) { if (items.length && navigator.onLine) flush(); });

  $("report").addEventListener("submit", function (e) {
    e.preventDefault();
    var error = !position ? text.needPosition : !$("category").value ? text.needCategory : "";
    $("form-error").textContent = error;
    if (error) return;
    var category = $("category").value;
    var c = categories.find(function (x) { return x.code === category; });
    if (c && c.photo_required && !photo) { $("form-error").textContent = text.needPhoto; return; }
    var data = new FormData($("report"));
    var item = {
      client_uuid: C.uuid4(), lon: position.lon.toFixed(7), lat: position.lat.toFixed(7),
      accuracy_m: position.accuracy ? Math.round(position.accuracy) : null, category: category,
      description: data.get("description") || "", urgency: data.get("urgency") || "normal", photo: photo,
      label: (c ? c.name_zh : category), queued_at: new Date().toISOString(),
      component: picked.component, census: picked.census
    };
    $("submit").disabled = true;
    // Kept on the phone first: whatever happens to the network now, the report is not lost.
    outbox.put(item).then(function () {
      $("result").innerHTML = '<p class="queued">' + C.esc(navigator.onLine ? text.sending : text.queued) + "</p>";
      resetForm();
      return flush();
    }).then(function () {
      return outbox.all().then(function (items) {
        var still = items.find(function (i) { return i.client_uuid === item.client_uuid; });
        if (still && !still.rejected) $("result").innerHTML = '<p class="queued">' + C.esc(text.queued) + "</p>";
        if (still && still.rejected) $("result").innerHTML = '<p class="error">' + C.esc(still.error) + "</p>";
      });
    }).finally(function () { $("submit").disabled = false; });
  });
  function resetForm() {
    $("report").reset();
    chosen = null; photo = null;
    $("category").value = ""; $("category-search").value = "";
    $("preview").hidden = true;
    renderChoices();
    offerComponents();
  }
  $("queue").addEventListener("click", function (e) {
    var li = e.target.closest("[data-uuid]");
    if (li && li.querySelector(".error") && confirm(text.discard)) outbox.remove(li.dataset.uuid).then(showQueue);
  });

  // ---- my cases and verification tasks
  function card(f, actions) {
    var p = f.properties;
    return '<li class="card sla-' + C.esc(p.sla) + '" data-number="' + C.esc(f.id) + '"><strong>' + C.esc(f.id) +
      "</strong> " + C.esc(p.category_name) + '<br><span class="status">' + C.esc(p.status_label) + "</span> · " +
      C.esc((p.created_at || "").slice(0, 16).replace("T", " ")) + (actions || "") + "</li>";
  }
  function loadMine() {
    C.api(cfg.apiMine + "?page_size=50").then(function (r) {
      $("mine").innerHTML = r.ok && r.data.features.length ? r.data.features.map(function (f) { return card(f); }).join("")
        : "<li>" + C.esc(text.none) + "</li>";
    }).catch(function () { $("mine").innerHTML = "<li>" + C.esc(text.offline) + "</li>"; });
  }
  function loadTasks() {
    C.api(cfg.apiTasks + "?page_size=50").then(function (r) {
      var features = r.ok ? r.data.features : [];
      $("task-count").textContent = features.length || "";
      // What the inspector needs on site: where (the place, the address given, the cell), what was reported, what
      // the bureau says it did, and its after-photos.
      $("tasks").innerHTML = features.length ? features.map(function (f) {
        var p = f.properties;
        return card(f, '<p class="task-place"><b>' + C.esc(text.place) + ":</b> " + C.esc(p.place) +
          (p.address ? " · " + C.esc(p.address) : "") + (p.cell ? " · " + C.esc(text.cell) + " " + C.esc(p.cell) : "") +
          '</p><div class="task-work" data-work="' + C.esc(f.id) + '"></div>' +
          '<div class="after" data-photos="' + C.esc(f.id) + '"></div><div class="buttons">' +
          '<button type="button" class="big pass" data-verify="pass" data-version="' + f.properties.version + '">' +
          C.esc(text.pass) + '</button><button type="button" class="big fail" data-verify="fail" data-version="' +
          f.properties.version + '">' + C.esc(text.fail) + "</button></div>");
      }).join("") : "<li>" + C.esc(text.none) + "</li>";
      features.forEach(function (f) {
        C.api(cfg.apiCase + f.id + "/").then(function (d) {
          var box = document.querySelector('[data-photos="' + f.id + '"]');
          var work = document.querySelector('[data-work="' + f.id + '"]');
          if (!d.ok || !box) return;
          var done = (d.data.properties.log || []).filter(function (l) { return l.action === "process"; }).pop();
          if (work) {
            work.innerHTML = (d.data.properties.description ? "<p>" + C.esc(d.data.properties.description) + "</p>" : "") +
              (done && done.note ? "<p><b>" + C.esc(text.workDone) + ":</b> " + C.esc(done.note) + "</p>" : "");
          }
          box.innerHTML = d.data.properties.photos.filter(function (p) { return p.kind === "after"; }).map(function (p) {
            return '<img src="' + C.esc(p.thumbnail_url) + '" alt="' + C.esc(text.afterPhoto) + '">';
          }).join("");
        }).catch(function () { /* offline: no photos now */ });
      });
    }).catch(function () { /* offline: the tasks show when the network returns */ });
  }
  $("tasks").addEventListener("click", function (e) {
    var b = e.target.closest("[data-verify]");
    if (!b) return;
    var number = b.closest("[data-number]").dataset.number;
    var body = { version: Number(b.dataset.version) };
    if (position) { body.lon = position.lon; body.lat = position.lat; }
    C.api(cfg.apiCase + number + "/verify_" + b.dataset.verify + "/", { method: "POST", body: body }).then(function (r) {
      if (!r.ok) alert(C.errorsText(r.data));
      loadTasks();
    }).catch(function () { alert(text.offline); });
  });
  loadTasks();
})();
