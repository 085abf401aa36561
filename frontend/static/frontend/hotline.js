// The hotline desk (12345 / 12319): a call taken down while the caller is on the line — the caller's earlier
// cases as the number is typed, the place by name or on the map, the category, likely duplicates before saving
// with "merge into" one click away — and the callbacks (回访). Keyboard throughout: Enter saves, arrows and
// Enter pick from a list, Esc closes it, Ctrl+Enter saves from the description, Alt+1 / Alt+2 switch tabs.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text;

  // ---- tabs
  function showTab(name) {
    document.querySelectorAll(".desk-tabs [data-tab]").forEach(function (b) {
      b.setAttribute("aria-selected", String(b.dataset.tab === name));
    });
    document.querySelectorAll(".desk-tab").forEach(function (s) { s.hidden = s.id !== "tab-" + name; });
    if (name === "callbacks") { loadDue(); } else { map.invalidateSize(); $("phone").focus(); }
  }
  document.querySelectorAll(".desk-tabs [data-tab]").forEach(function (b) {
    b.addEventListener("click", function () { showTab(b.dataset.tab); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.altKey && (e.key === "1" || e.key === "2")) { e.preventDefault(); showTab(e.key === "1" ? "call" : "callbacks"); }
  });

  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }
  function when(iso) { return (iso || "").slice(0, 16).replace("T", " "); }

  // ---- a list of suggestions under an input, driven by the keyboard (the ARIA combobox pattern)
  function combobox(input, list, search, choose, render) {
    var items = [], active = -1, ticket = 0;
    function draw() {
      list.innerHTML = items.map(function (item, i) {
        return '<li role="option" id="' + list.id + "-" + i + '" data-i="' + i + '" aria-selected="' + (i === active) + '"' +
          (i === active ? ' class="active"' : "") + ">" + render(item) + "</li>";
      }).join("");
      list.hidden = !items.length;
      input.setAttribute("aria-expanded", String(!list.hidden));
      if (active >= 0) input.setAttribute("aria-activedescendant", list.id + "-" + active);
      else input.removeAttribute("aria-activedescendant");
    }
    function close() { items = []; active = -1; draw(); }
    function pick(i) { var item = items[i]; close(); if (item) choose(item); }
    function run() {
      var mine = ++ticket;
      Promise.resolve(search(input.value.trim())).then(function (found) {
        if (mine !== ticket) return;  // a later keystroke asked again meanwhile
        items = found || []; active = items.length ? 0 : -1; draw();
      });
    }
    input.addEventListener("input", debounce(run, 200));
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" && list.hidden) { run(); e.preventDefault(); return; }
      if (list.hidden) return;  // Enter then saves the call, as everywhere in the form
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length; draw(); e.preventDefault();
      } else if (e.key === "Enter" && active >= 0) {
        e.preventDefault(); pick(active);
      } else if (e.key === "Escape") {
        e.preventDefault(); close();
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    list.addEventListener("mousedown", function (e) {
      var li = e.target.closest("[data-i]");
      if (li) { e.preventDefault(); pick(Number(li.dataset.i)); }
    });
    return { close: close, busy: function () { return !list.hidden; } };
  }

  // ---- the map: a click puts the call's point; the likely duplicates show around it
  var map = C.baseMap($("map"), cfg);
  window.cityGridMap = map;
  var position = null, marker = null, dupLayer = L.layerGroup().addTo(map);
  var districts = L.geoJSON(null, { style: { color: "#0b3d63", weight: 2, fill: false }, interactive: false }).addTo(map);
  var cellShape = L.geoJSON(null, { style: { color: "#1565c0", weight: 3, fillOpacity: 0.08 }, interactive: false }).addTo(map);
  C.features(cfg.apiAreas + "?level=district&zoom=11&page_size=100", datum).then(function (fc) {
    districts.addData(fc);
    if (districts.getLayers().length && !position) map.fitBounds(districts.getBounds());
  }).catch(function () { /* refused or offline: the page works without the outlines */ });
  function pin(cls) { return L.divIcon({ className: "pin " + cls, iconSize: [20, 20], html: "" }); }
  function place(lon, lat, zoom) {
    position = { lon: lon, lat: lat };
    if ($("call-error").textContent === text.needPosition) $("call-error").textContent = "";  // now given
    var shown = datum.toDisplay(lon, lat);
    if (!marker) {
      marker = L.marker(shown, { icon: pin("call-pin"), draggable: true, keyboard: false }).addTo(map);
      marker.on("dragend", function () { var p = datum.toStored(marker.getLatLng()); place(p[0], p[1]); });
    } else {
      marker.setLatLng(shown);
    }
    if (zoom) map.setView(shown, zoom);
    locate(lon, lat);
    refreshDuplicates();
  }
  map.on("click", function (e) { var p = datum.toStored(e.latlng); place(p[0], p[1]); });
  var locating = 0;
  function locate(lon, lat) {
    var mine = ++locating;
    C.api(cfg.apiLocate + "?lon=" + lon.toFixed(7) + "&lat=" + lat.toFixed(7)).then(function (r) {
      if (mine !== locating) return;
      var where = $("where");
      if (r.ok) {
        var d = r.data;
        where.textContent = [d.district, d.street, d.community].filter(Boolean).map(function (a) { return a.name; }).join(" ") +
          (d.cell ? " · " + text.cell + " " + d.cell.code : "");
        where.dataset.cell = d.cell ? d.cell.code : "";
        where.className = "where-line";
        cellShape.clearLayers();
        if (d.cell) {
          C.api(cfg.apiCells + encodeURIComponent(d.cell.code) + "/").then(function (c) {
            if (!c.ok || mine !== locating) return;
            c.data.geometry = datum.geometry(c.data.geometry);
            cellShape.addData(c.data);
          });
        }
      } else {
        cellShape.clearLayers();
        where.textContent = text.outside;
        where.dataset.cell = "";
        where.className = "where-line error";
      }
    });
  }

  // ---- the place by name: the grid's names, and the gazetteer's door numbers, buildings, landmarks and roads
  var ZOOM = { district: 13, street: 15, community: 16, cell: 18, road: 16, landmark: 18, address: 18, building: 18 };
  var addressFromPlace = "";  // the address the last picked door number filled in (the operator's own text stays)
  combobox($("place"), $("place-list"), function (q) {
    if (!q) return [];
    return C.api(cfg.apiPlaces + "?limit=8&q=" + encodeURIComponent(q)).then(function (r) {
      return r.ok ? r.data.results : [];
    });
  }, function (p) {
    $("place").value = (p.context ? p.context + " " : "") + p.name;
    place(p.lon, p.lat, ZOOM[p.kind] || 17);
    // A door number, building or landmark is the address too, unless the operator wrote one already.
    var address = $("address");
    if (p.source === "gazetteer" && p.kind !== "road" && (!address.value || address.value === addressFromPlace)) {
      address.value = addressFromPlace = p.name;
    }
  }, function (p) {
    var kind = text.kinds[p.kind];
    return (kind ? '<span class="kind">' + C.esc(kind) + "</span> " : "") + "<b>" + C.esc(p.name) + "</b> <small>" +
      C.esc(p.context) + "</small>";
  });

  // ---- the category: searchable by name or code
  var categories = [];
  C.api(cfg.apiCatalogue).then(function (r) {
    categories = (r.ok ? (r.data.results || r.data) : []).filter(function (c) { return c.major; });
  });
  var categoryBox = combobox($("category-search"), $("category-list"), function (q) {
    q = q.toLowerCase();
    return categories.filter(function (c) {
      return !q || c.code.toLowerCase().indexOf(q) >= 0 || c.name_zh.indexOf(q) >= 0 ||
        (c.name_en || "").toLowerCase().indexOf(q) >= 0;
    }).slice(0, 10);
  }, function (c) {
    $("category").value = c.code;
    $("category-search").value = c.name_zh + " " + c.code;
    if ($("call-error").textContent === text.needCategory) $("call-error").textContent = "";  // now chosen
    refreshDuplicates();
  }, function (c) {
    return C.esc(c.name_zh) + " <small>" + C.esc(c.code) + "</small>";
  });
  $("category-search").addEventListener("input", function () {
    if ($("category").value) { $("category").value = ""; refreshDuplicates(); }  // typing again: not chosen yet
  });

  // ---- likely duplicates, asked before the call is saved
  var dupTicket = 0;
  function refreshDuplicates() {
    var box = $("duplicates"), category = $("category").value;
    dupLayer.clearLayers();
    if (!position || !category) { box.innerHTML = ""; delete box.dataset.ready; return; }
    var mine = ++dupTicket;
    C.api(cfg.apiDuplicates + "?lon=" + position.lon.toFixed(7) + "&lat=" + position.lat.toFixed(7) +
          "&category=" + encodeURIComponent(category)).then(function (r) {
      if (mine !== dupTicket) return;
      var found = r.ok ? r.data.results : [];
      box.innerHTML = found.length ? found.map(function (d) {
        L.circleMarker(datum.toDisplay(d.lon, d.lat), { radius: 8, color: "#c62828", fillOpacity: 0.6 })
          .bindTooltip(d.number).addTo(dupLayer);
        return '<li data-number="' + C.esc(d.number) + '"><strong>' + C.esc(d.number) + "</strong> " +
          C.esc(d.category_name) + " · " + C.esc(d.status_label) + "<br><small>" + C.esc(when(d.created_at)) + " · " +
          C.esc(d.place) + (d.address ? " · " + C.esc(d.address) : "") + " · " + C.esc(d.distance_m) + " " +
          C.esc(text.metres) + "</small>" + (d.description ? '<p class="desc">' + C.esc(d.description) + "</p>" : "") +
          (d.can_merge_into ? '<button type="button" class="merge" data-merge="' + C.esc(d.number) + '">' +
            C.esc(text.mergeInto) + " " + C.esc(d.number) + "</button>" : "") + "</li>";
      }).join("") : '<li class="none">' + C.esc(text.noDuplicates) + "</li>";
      box.dataset.ready = "1";
    });
  }
  $("duplicates").addEventListener("click", function (e) {
    var b = e.target.closest("[data-merge]");
    if (b) save(b.dataset.merge);
  });

  // ---- the caller's earlier cases, as the number is typed
  var callerTicket = 0;
  $("phone").addEventListener("input", debounce(function () {
    var digits = $("phone").value.replace(/\D/g, ""), box = $("earlier");
    if (digits.length < cfg.callerMinDigits) { box.innerHTML = ""; return; }
    var mine = ++callerTicket;
    C.api(cfg.apiCallers + "?phone=" + encodeURIComponent($("phone").value)).then(function (r) {
      if (mine !== callerTicket || !r.ok) return;
      var found = r.data.results;
      var same = found.find(function (c) { return c.same_number && c.contact_name; });
      if (same && !$("caller").value) $("caller").value = same.contact_name;
      box.innerHTML = found.length ? "<h3>" + C.esc(text.earlier) + "</h3><ul>" + found.map(function (c) {
        return '<li data-number="' + C.esc(c.number) + '"><strong>' + C.esc(c.number) + "</strong> " +
          C.esc(c.category_name) + " · " + C.esc(c.status_label) + " · " + C.esc(when(c.created_at)) +
          (c.same_number ? ' <span class="tag">' + C.esc(text.sameNumber) + "</span>" : " <small>" +
            C.esc(c.contact_phone) + "</small>") + "</li>";
      }).join("") + "</ul>" : '<p class="none">' + C.esc(text.noEarlier) + "</p>";
    });
  }, 250));

  // ---- saving: Enter anywhere in the form (Ctrl+Enter in the description), or "merge into" a duplicate
  var clientUuid = C.uuid4(), saving = false;
  $("call").addEventListener("submit", function (e) { e.preventDefault(); save(null); });
  $("description").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(null); }
  });
  function save(into) {
    if (saving) return;
    var error = !position ? text.needPosition : !$("category").value ? text.needCategory : "";
    $("call-error").textContent = error;
    $("call-result").innerHTML = "";  // the last call's confirmation is not this call's
    if (error) { (!position ? $("place") : $("category-search")).focus(); return; }
    saving = true;
    $("save").disabled = true;
    var form = new FormData($("call"));
    var body = { client_uuid: clientUuid, lon: position.lon.toFixed(7), lat: position.lat.toFixed(7),
                 category: $("category").value, description: form.get("description") || "",
                 urgency: form.get("urgency") || "normal",
                 address: form.get("address") || $("place").value,  // the place's name when no address was given
                 contact_name: form.get("contact_name") || "", contact_phone: form.get("contact_phone") || "",
                 source: form.get("source") || "hotline_12345" };
    C.api(cfg.apiCases, { method: "POST", body: body }).then(function (r) {
      if (!r.ok) { $("call-error").textContent = C.errorsText(r.data); return; }
      var number = r.data.id, version = r.data.properties.version;
      var next = into ? C.api(cfg.apiCase + encodeURIComponent(number) + "/merge/", { method: "POST", body: { version: version, into: into } })
        : $("register").checked ? C.api(cfg.apiCase + encodeURIComponent(number) + "/register/", { method: "POST", body: { version: version } })
        : Promise.resolve(null);
      return next.then(function (followed) { saved(number, into, followed); });
    }).catch(function () { $("call-error").textContent = text.network; })
      .finally(function () { saving = false; $("save").disabled = false; });
  }
  function saved(number, into, followed) {
    var ok = !followed || followed.ok;
    $("call-result").innerHTML = '<p class="ok" data-number="' + C.esc(number) + '"' + (into && ok ? ' data-merged="' + C.esc(into) + '"' : "") + ">" +
      C.esc(text.saved) + " <strong>" + C.esc(number) + "</strong>" +
      (into && ok ? " · " + C.esc(text.mergedInto) + " <strong>" + C.esc(into) + "</strong>" : "") +
      (!into && followed && ok ? " · " + C.esc(text.registered) : "") + "</p>" +
      (ok ? "" : '<p class="error">' + C.esc(C.errorsText(followed.data)) + "</p>");
    var source = new FormData($("call")).get("source");
    $("call").reset();  // the next call on the same line
    $("call").querySelector("input[name=source][value='" + source + "']").checked = true;
    $("category").value = "";
    position = null; clientUuid = C.uuid4();
    if (marker) { marker.remove(); marker = null; }
    dupLayer.clearLayers();
    cellShape.clearLayers();
    ["duplicates", "earlier", "where", "call-error"].forEach(function (id) { $(id).innerHTML = ""; });
    delete $("duplicates").dataset.ready;
    delete $("where").dataset.cell;
    categoryBox.close();
    $("phone").focus();
  }

  // ---- callbacks (回访)
  var due = [], chosen = null, loading = null;
  // One request at a time (the tab and the page's start both ask), and a re-drawn list keeps the
  // operator's place: the item that had the focus has it again, so a keypress never lands on nothing.
  function loadDue() {
    if (loading) return loading;
    loading = C.api(cfg.apiCallbacks).then(function (r) {
      if (!r.ok) return;
      var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest("#due li") : null;
      var keep = focused ? focused.dataset.number : null;
      due = r.data.results;
      $("callback-count").textContent = due.length || "";
      $("due").innerHTML = due.map(function (c, i) {
        return '<li role="option" tabindex="0" data-i="' + i + '" data-number="' + C.esc(c.number) + '"' +
          (chosen === c.number ? ' class="current"' : "") + "><strong>" + C.esc(c.number) + "</strong> " +
          C.esc(c.category_name) + "<br><small>" + C.esc(c.contact_name) + " " + C.esc(c.contact_phone) + " · " +
          C.esc(text.closedAt) + " " + C.esc(when(c.work_closed_at)) + (c.merged_into ? " · " + C.esc(text.mergedCase) + " " +
          C.esc(c.merged_into) : "") + (c.attempts ? " · " + c.attempts + " " + C.esc(text.attempts) : "") + "</small></li>";
      }).join("");
      $("due").hidden = !due.length;
      $("cb-empty").textContent = due.length ? (chosen ? "" : text.chooseCallback) : text.noCallbacks;
      $("due").dataset.loaded = String(Date.now());
      if (keep) {
        var again = $("due").querySelector('li[data-number="' + CSS.escape(keep) + '"]');
        if (again) again.focus();
      }
    }).finally(function () { loading = null; });
    return loading;
  }
  function openCallback(i) {
    var c = due[i];
    if (!c) return;
    chosen = c.number;
    document.querySelectorAll("#due li").forEach(function (li) { li.classList.toggle("current", li.dataset.number === chosen); });
    var form = $("callback");
    form.reset();
    form.hidden = false;
    form.dataset.number = c.number;
    $("cb-empty").textContent = "";
    $("cb-title").textContent = c.number + " " + c.category_name;
    $("cb-detail").textContent = [c.contact_name, c.contact_phone, c.place, c.description].filter(Boolean).join(" · ");
    $("cb-satisfaction").disabled = true;
    $("cb-reopen-line").hidden = true;
    $("cb-error").textContent = "";
    form.querySelector("input[name=reached]").focus();
  }
  $("due").addEventListener("click", function (e) {
    var li = e.target.closest("[data-i]");
    if (li) openCallback(Number(li.dataset.i));
  });
  $("due").addEventListener("keydown", function (e) {
    var li = e.target.closest("[data-i]");
    if (!li) return;
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openCallback(Number(li.dataset.i)); }
    var step = e.key === "ArrowDown" ? li.nextElementSibling : e.key === "ArrowUp" ? li.previousElementSibling : null;
    if (step) { e.preventDefault(); step.focus(); }
  });
  $("callback").addEventListener("change", function () {
    var data = new FormData($("callback"));
    $("cb-satisfaction").disabled = data.get("reached") !== "true";
    $("cb-reopen-line").hidden = data.get("reached") !== "true" || data.get("satisfaction") !== "not_satisfied";
  });
  $("callback").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = $("callback"), data = new FormData(form), number = form.dataset.number;
    var reached = data.get("reached");
    var body = { reached: reached === null ? null : reached === "true", satisfaction: data.get("satisfaction") || "",
                 note: data.get("note") || "",
                 reopen: data.get("satisfaction") === "not_satisfied" && $("cb-reopen").checked };
    C.api(cfg.apiCase + encodeURIComponent(number) + "/callback/", { method: "POST", body: body }).then(function (r) {
      if (r.status === 201) {
        var w = r.data.work_case;
        $("cb-result").innerHTML = '<p class="ok" data-number="' + C.esc(number) + '" data-status="' + C.esc(w.status) + '">' +
          C.esc(text.callbackSaved) + " " + C.esc(number) + (r.data.reopened ? " · " + C.esc(text.reopened) + " " + C.esc(w.number) +
          " " + C.esc(w.status_label) + (w.bureau ? " · " + C.esc(w.bureau) : "") : "") + "</p>";
        form.hidden = true; chosen = null;
        loadDue().then(function () { var first = $("due").querySelector("li"); if (first) first.focus(); });
      } else if (r.status === 409) {
        $("cb-error").textContent = text.conflict;
        form.hidden = true; chosen = null;
        loadDue();
      } else {
        $("cb-error").textContent = C.errorsText(r.data);
      }
    });
  });
  loadDue();  // the count on the tab from the start
})();
