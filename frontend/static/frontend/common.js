// Shared by the pages: JSON calls with the session's CSRF token, HTML escaping, the base map.
(function (global) {
  "use strict";
  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function api(url, options) {
    options = options || {};
    var headers = Object.assign({ "Accept": "application/json", "X-CSRFToken": csrf() }, options.headers || {});
    var body = options.body;
    if (body && !(body instanceof FormData) && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    return fetch(url, { method: options.method || "GET", headers: headers, body: body, credentials: "same-origin" })
      .then(function (r) {
        return r.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
          return { ok: r.ok, status: r.status, data: data };
        });
      });
  }
  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function errorsText(data) {
    // The server's messages only: a field's name is a code nobody should read, and each message says what
    // it is about ("未按派遣规则派遣时，请填写理由。").
    if (data === null || data === undefined) return "";
    if (typeof data !== "object") return String(data);
    if (Array.isArray(data)) return data.map(errorsText).join(" ");
    if (data.detail) return errorsText(data.detail);
    return Object.keys(data).map(function (k) { return errorsText(data[k]); }).join(" ");
  }
  function markerIcons(cfg) {
    // By their served (hashed) names: Leaflet's own guess from leaflet.css's name fails in production.
    if (!cfg.markerIcons) return;
    L.Icon.Default.imagePath = "";
    L.Icon.Default.mergeOptions(cfg.markerIcons);
  }
  function baseMap(el, cfg, options) {
    markerIcons(cfg);
    var map = L.map(el, Object.assign({ preferCanvas: true }, options || {})).setView([27.86, 112.93], 12);
    // Without a tile server (an intranet) the layers still draw on the plain background.
    L.tileLayer(cfg.tileUrl, { attribution: cfg.tileAttribution, maxZoom: 19 }).addTo(map);
    return map;
  }
  // Every page of a GeoJSON list (the API pages long ones: `next`), its geometries as drawn on this base map
  // (datum: window.CityGridDatum(...)); rejects when a page is refused or cannot be fetched.
  function features(url, datum) {
    return api(url).then(function (r) {
      if (!r.ok || !r.data || !r.data.features) throw new Error("HTTP " + r.status + " " + url);
      var fc = r.data;
      fc.features.forEach(function (f) { f.geometry = datum.geometry(f.geometry); });
      if (!fc.next) return fc;
      return features(fc.next, datum).then(function (more) { fc.features = fc.features.concat(more.features); return fc; });
    });
  }
  // Every row of a list, every page of it (the API pages long ones: `next`); rejects when a page is refused or cannot
  // be fetched.
  function rows(url) {
    return api(url).then(function (r) {
      if (!r.ok || !r.data) throw new Error("HTTP " + r.status + " " + url);
      if (Array.isArray(r.data)) return r.data;
      if (!r.data.next) return r.data.results;
      return rows(r.data.next).then(function (more) { return r.data.results.concat(more); });
    });
  }
  // Where an area's name goes: the centroid of its largest part. Leaflet centres a label on a multipolygon's first
  // part, which for a district may be a sliver or an islet (雨湖区 sat on two small islands off its body).
  function labelPoint(geometry) {
    var parts = geometry.type === "MultiPolygon" ? geometry.coordinates : [geometry.coordinates];
    var best = null, bestArea = -1;
    parts.forEach(function (rings) {
      var ring = rings[0], a = 0, x = 0, y = 0;
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        var cross = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
        a += cross;
        x += (ring[j][0] + ring[i][0]) * cross;
        y += (ring[j][1] + ring[i][1]) * cross;
      }
      if (Math.abs(a) > bestArea && a !== 0) { bestArea = Math.abs(a); best = L.latLng(y / (3 * a), x / (3 * a)); }
    });
    return best;
  }
  // A photo from the camera or the gallery, resized on the phone before it is sent (longest side maxSide, JPEG):
  // a few hundred kilobytes instead of several megabytes over a mobile network.
  function resizePhoto(file, maxSide) {
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
  function uuid4() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  // The catalogue API lists subclasses: a class filter offers their major classes, once each, by code
  // (部件 and 事件 each have a 市容环境: the code tells them apart).
  function majorOptions(select, subclasses) {
    var seen = {};
    subclasses.forEach(function (c) {
      if (!c.major || seen[c.major]) return;
      seen[c.major] = true;
      select.insertAdjacentHTML("beforeend", '<option value="' + esc(c.major) + '">' + esc(c.major + " " + c.major_name) + "</option>");
    });
  }
  // The live feed (Server-Sent Events of cases and emergencies) and its light. The server ends each stream after
  // FEED_STREAM_SECONDS and the browser reconnects at once: the light goes off only if that takes more than a few
  // seconds, or at once when the stream is refused (the server's stream limits: 429/503), which calls onRefused.
  function liveFeed(url, light, onEvent, onRefused) {
    var source = new EventSource(url), offTimer = null;
    ["case", "emergency"].forEach(function (kind) {
      source.addEventListener(kind, function (m) { light.className = "live on"; onEvent(JSON.parse(m.data)); });
    });
    source.onopen = function () { clearTimeout(offTimer); light.className = "live on"; };
    source.onerror = function () {
      clearTimeout(offTimer);
      if (source.readyState === EventSource.CONNECTING) {
        offTimer = setTimeout(function () { light.className = "live off"; }, 5000);
        return;
      }
      light.className = "live off";
      if (source.readyState === EventSource.CLOSED) onRefused();
    };
    return source;
  }
  global.CityGrid = { api: api, esc: esc, liveFeed: liveFeed, errorsText: errorsText, baseMap: baseMap, uuid4: uuid4, markerIcons: markerIcons,
                      resizePhoto: resizePhoto, features: features, rows: rows, labelPoint: labelPoint, majorOptions: majorOptions,
                      config: function (id) { return JSON.parse(document.getElementById(id).textContent); } };
})(window);
