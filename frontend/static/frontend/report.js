// The public report page, for a phone without an account: the position (GPS, or a tap on the map), the kind of
// problem, a description, photos resized on the phone, an optional contact. The answer is the case number and
// its tracking link, kept on this phone too. Only the public's own endpoints are called.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config"), datum = window.CityGridDatum(cfg.tileDatum);
  var $ = function (id) { return document.getElementById(id); };
  var text = cfg.text;

  // ---- the place: GPS first, a tap or a drag wins over it
  var map = C.baseMap($("map"), cfg, { zoomControl: false });
  window.cityGridMap = map;
  var position = null, marker = null, manual = false, locating = 0;
  // Drawn by CSS, not Leaflet's default image (whose URL breaks under hashed static names).
  var icon = L.divIcon({ className: "report-pin", iconSize: [30, 30], iconAnchor: [15, 29], html: "<span></span>" });
  var cellShape = L.geoJSON(null, { style: { color: "#e65100", weight: 3, fillOpacity: 0.08 }, interactive: false }).addTo(map);
  function place(lon, lat, fromGps) {
    position = { lon: lon, lat: lat };
    var shown = datum.toDisplay(lon, lat);
    if (!marker) {
      marker = L.marker(shown, { icon: icon, draggable: true, autoPan: true }).addTo(map);
      marker.on("dragend", function () { manual = true; var p = datum.toStored(marker.getLatLng()); place(p[0], p[1]); });
      map.setView(shown, 17);
    } else {
      marker.setLatLng(shown);
      if (fromGps) map.panTo(shown);
    }
    var mine = ++locating;
    C.api(cfg.apiLocate + "?lon=" + lon.toFixed(7) + "&lat=" + lat.toFixed(7)).then(function (r) {
      if (mine !== locating) return;
      var where = $("where");
      cellShape.clearLayers();
      if (r.ok && r.data.inside) {
        where.textContent = [r.data.district, r.data.street, r.data.community].filter(Boolean).join(" ");
        where.dataset.inside = "1";
        if (r.data.outline) cellShape.addData(datum.geometry(r.data.outline));
      } else {
        where.textContent = r.ok ? text.outside : C.errorsText(r.data);
        where.dataset.inside = "0";
      }
    }).catch(function () { /* the report still carries the point; the server says if it is outside */ });
  }
  map.on("click", function (e) { manual = true; var p = datum.toStored(e.latlng); place(p[0], p[1]); });

  // ---- or an address typed in (the gazetteer, through the public's own endpoint): picking one places the pin
  var found = [], active = -1, asked = 0, timer = null, addrList = $("addr-list"), addrQ = $("addr-q");
  function drawFound() {
    addrList.innerHTML = found.map(function (a, i) {
      return '<li role="option" id="addr-' + i + '" data-i="' + i + '" aria-selected="' + (i === active) + '"' +
        (i === active ? ' class="active"' : "") + ">" + C.esc(a.text) + "</li>";
    }).join("");
    addrList.hidden = !found.length;
    addrQ.setAttribute("aria-expanded", String(found.length > 0));
  }
  function pickAddress(i) {
    var a = found[i];
    found = []; active = -1; drawFound();
    if (!a) return;
    manual = true;
    addrQ.value = a.text;
    var near = document.querySelector("#report [name=address]");
    if (!near.value) near.value = a.text;
    place(a.lon, a.lat);
    map.setView(datum.toDisplay(a.lon, a.lat), 18);
  }
  addrQ.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = addrQ.value.trim(), mine = ++asked;
      if (!q) { found = []; drawFound(); return; }
      C.api(cfg.apiGeocode + "?q=" + encodeURIComponent(q)).then(function (r) {
        if (mine !== asked) return;
        found = r.ok ? r.data.results : []; active = found.length ? 0 : -1; drawFound();
        if (!found.length) $("where").textContent = r.ok ? text.noAddress : C.errorsText(r.data);
      });
    }, 250);
  });
  addrQ.addEventListener("keydown", function (e) {
    if (addrList.hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      active = (active + (e.key === "ArrowDown" ? 1 : found.length - 1)) % found.length; drawFound(); e.preventDefault();
    } else if (e.key === "Enter") { e.preventDefault(); pickAddress(active); }
    else if (e.key === "Escape") { found = []; drawFound(); }
  });
  addrList.addEventListener("click", function (e) {
    var li = e.target.closest("[data-i]");
    if (li) pickAddress(Number(li.dataset.i));
  });
  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(function (p) {
      if (!manual) place(p.coords.longitude, p.coords.latitude, true);
    }, function () { if (!position) $("where").textContent = text.noGps; }, { enableHighAccuracy: true, timeout: 15000 });
  } else {
    $("where").textContent = text.noGps;
  }

  // ---- the kinds of problem, grouped by major class
  C.api(cfg.apiCatalogue).then(function (r) {
    if (!r.ok) return;
    var groups = {};
    r.data.results.forEach(function (c) { (groups[c.major] = groups[c.major] || { name: c.major_name, items: [] }).items.push(c); });
    $("category").insertAdjacentHTML("beforeend", Object.keys(groups).map(function (k) {
      return '<optgroup label="' + C.esc(groups[k].name) + '">' + groups[k].items.map(function (c) {
        return '<option value="' + C.esc(c.code) + '">' + C.esc(c.name) + "</option>";
      }).join("") + "</optgroup>";
    }).join(""));
    $("category").dataset.ready = "1";
  });

  // ---- photos, resized on the phone (longest side photoMaxPixels, JPEG) before they are sent
  var photos = [];
  $("photo").addEventListener("change", function () {
    var files = Array.prototype.slice.call(this.files);
    this.value = "";
    if (photos.length + files.length > cfg.maxPhotos) { $("form-error").textContent = text.tooMany; files = files.slice(0, cfg.maxPhotos - photos.length); }
    files.forEach(function (file) {
      resize(file, cfg.photoMaxPixels).then(function (blob) { photos.push(blob); showPhotos(); })
        .catch(function () { $("form-error").textContent = text.badPhoto; });
    });
  });
  function resize(file, maxSide) {
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (b) { return b ? resolve(b) : reject(new Error("encode")); }, "image/jpeg", 0.85);
      });
    });
  }
  function showPhotos() {
    $("previews").innerHTML = photos.map(function (blob, i) {
      return '<figure><img src="' + URL.createObjectURL(blob) + '" alt=""><button type="button" data-remove="' + i + '">' +
        C.esc(text.remove) + "</button></figure>";
    }).join("");
    $("previews").dataset.count = String(photos.length);
  }
  $("previews").addEventListener("click", function (e) {
    var b = e.target.closest("[data-remove]");
    if (b) { photos.splice(Number(b.dataset.remove), 1); showPhotos(); }
  });

  // ---- sending: one client id per report, kept until it is accepted, so a resend never makes a second case
  var clientUuid = C.uuid4();
  $("report").addEventListener("submit", function (e) {
    e.preventDefault();
    var error = !position ? text.needPosition : !$("category").value ? text.needCategory : "";
    $("form-error").textContent = error;
    if (error) return;
    var form = new FormData($("report"));
    form.append("client_uuid", clientUuid);
    form.append("lon", position.lon.toFixed(7));
    form.append("lat", position.lat.toFixed(7));
    photos.forEach(function (blob, i) { form.append("photos", blob, "photo" + (i + 1) + ".jpg"); });
    $("submit").disabled = true;
    $("result").innerHTML = '<p class="queued">' + C.esc(text.sending) + "</p>";
    C.api(cfg.apiReport, { method: "POST", body: form }).then(function (r) {
      if (r.ok) { accepted(r.data); return; }
      $("result").innerHTML = "";
      $("form-error").textContent = r.status === 429 ? text.tooFast : C.errorsText(r.data);
    }).catch(function () {
      $("result").innerHTML = "";
      $("form-error").textContent = text.network;
    }).finally(function () { $("submit").disabled = false; });
  });
  function link(number, code) {
    return cfg.trackUrl.replace("NUMBER", encodeURIComponent(number)) + "?code=" + encodeURIComponent(code);
  }
  function accepted(data) {
    var url = link(data.number, data.code);
    $("result").innerHTML = '<div class="ok" data-number="' + C.esc(data.number) + '"><p>' + C.esc(text.sent) +
      " <strong>" + C.esc(data.number) + "</strong></p><p>" + C.esc(text.code) + " <strong class='code'>" + C.esc(data.code) +
      "</strong></p><p><a id='track-link' class='button' href='" + C.esc(url) + "'>" + C.esc(text.track) + "</a></p><p class='hint'>" +
      C.esc(text.keep) + "</p></div>";
    remember(data.number, url);
    $("report").reset();
    photos = []; showPhotos();
    clientUuid = C.uuid4();
    $("result").scrollIntoView({ block: "start" });
  }

  // ---- reports sent from this phone (nothing leaves the phone for this)
  function mine() { try { return JSON.parse(localStorage.getItem("cg-my-reports") || "[]"); } catch (e) { return []; } }
  function remember(number, url) {
    var list = [{ number: number, url: url, at: new Date().toISOString() }].concat(mine().filter(function (m) { return m.number !== number; }));
    localStorage.setItem("cg-my-reports", JSON.stringify(list.slice(0, 20)));
    showMine();
  }
  function showMine() {
    var list = mine();
    $("mine-box").hidden = !list.length;
    $("mine").innerHTML = list.map(function (m) {
      return '<li><a href="' + C.esc(m.url) + '">' + C.esc(m.number) + "</a> <small>" +
        C.esc(new Date(m.at).toLocaleString()) + "</small></li>";
    }).join("");
  }
  showMine();
})();
