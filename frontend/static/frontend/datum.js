// GCJ-02 display shift (same formulas as grids/gcj02.py). Stored data is WGS84; only what is drawn on a
// GCJ-02 base map (AMap, Tencent) is shifted, and clicks on it are shifted back before use.
(function (global) {
  "use strict";
  var A = 6378245.0, EE = 0.00669342162296594323, PI = Math.PI;
  function outside(lon, lat) { return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271); }
  function tlat(x, y) {
    var r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    r += (20 * Math.sin(y * PI) + 40 * Math.sin(y / 3 * PI)) * 2 / 3;
    r += (160 * Math.sin(y / 12 * PI) + 320 * Math.sin(y * PI / 30)) * 2 / 3;
    return r;
  }
  function tlon(x, y) {
    var r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    r += (20 * Math.sin(x * PI) + 40 * Math.sin(x / 3 * PI)) * 2 / 3;
    r += (150 * Math.sin(x / 12 * PI) + 300 * Math.sin(x / 30 * PI)) * 2 / 3;
    return r;
  }
  function toGcj(lon, lat) {
    if (outside(lon, lat)) return [lon, lat];
    var dlat = tlat(lon - 105, lat - 35), dlon = tlon(lon - 105, lat - 35);
    var rad = lat / 180 * PI, magic = 1 - EE * Math.sin(rad) * Math.sin(rad), sm = Math.sqrt(magic);
    dlat = (dlat * 180) / ((A * (1 - EE)) / (magic * sm) * PI);
    dlon = (dlon * 180) / (A / sm * Math.cos(rad) * PI);
    return [lon + dlon, lat + dlat];
  }
  function toWgs(lon, lat) {
    var w = [lon, lat];
    for (var i = 0; i < 30; i++) {
      var g = toGcj(w[0], w[1]), dx = g[0] - lon, dy = g[1] - lat;
      w = [w[0] - dx, w[1] - dy];
      if (Math.abs(dx) < 1e-10 && Math.abs(dy) < 1e-10) break;
    }
    return w;
  }
  function shiftCoords(c) { return typeof c[0] === "number" ? toGcj(c[0], c[1]) : c.map(shiftCoords); }
  global.CityGridDatum = function (datum) {
    var gcj = datum === "gcj02";
    return {
      // GeoJSON geometry as stored (WGS84) → as drawn on this base map
      geometry: function (g) { return gcj && g ? { type: g.type, coordinates: shiftCoords(g.coordinates) } : g; },
      // a clicked LatLng on this base map → WGS84 [lon, lat]
      toStored: function (latlng) { return gcj ? toWgs(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat]; },
      toDisplay: function (lon, lat) { var p = gcj ? toGcj(lon, lat) : [lon, lat]; return L.latLng(p[1], p[0]); }
    };
  };
})(window);
