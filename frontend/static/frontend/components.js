// The census components (部件) as a map layer, shared by the inspector's page, the console and the grid map: loaded
// for the view from a readable zoom (the server says which), coloured by class, outlined by status, clickable.
(function (global) {
  "use strict";
  var C = global.CityGrid;
  // By major class (BJ01 public utilities, BJ02 roads and traffic, …); a class not listed is grey.
  var CLASS_COLOURS = { "01": "#1f78b4", "02": "#ff7f00", "03": "#33a02c", "04": "#6a3d9a", "05": "#b15928",
                        "06": "#e31a1c" };
  var STATUS_STROKE = { good: "#ffffff", damaged: "#e31a1c", missing: "#000000", occupied: "#ff7f00",
                        abandoned: "#999999" };
  // Smaller the further out: at the first zoom that shows them a city centre's census (hundreds a square
  // kilometre) would otherwise cover the map, the cells and the case under it.
  function style(p, zoom) {
    var near = !zoom || zoom >= 18;
    return { radius: near ? 6 : zoom >= 17 ? 4 : 3, weight: p.status === "good" ? 1 : near ? 3 : 2,
             color: STATUS_STROKE[p.status] || "#fff",
             fillColor: CLASS_COLOURS[(p.subclass || "").slice(2, 4)] || "#777777", fillOpacity: 0.9,
             dashArray: p.status === "missing" || p.status === "abandoned" ? "2 2" : null };
  }
  function popupHtml(p, names, labels, loading) {
    // While the detail loads, no class or status code where a person reads: an ellipsis.
    return '<div class="component-popup" data-component="' + C.esc(p.code) + '"' + (loading ? "" : " data-loaded") +
      "><strong>" + C.esc(names[p.subclass] || (loading ? "…" : p.subclass)) + "</strong> " + C.esc(p.name || "") +
      "<br>" + C.esc(p.code) + " · " + C.esc(labels[p.status] || (loading ? "…" : p.status)) + "</div>";
  }
  // From vector tiles (tiles.js), where the page has them: the view's census is never one heavy GeoJSON answer.
  // A click opens the popup at once and fills in the class's and status's names from the component's detail.
  function tiledLayer(map, url, template, options) {
    // Above the overlays (a canvas of areas would take the clicks), below the markers; only the drawn shapes take
    // pointer events, so the map under them stays clickable.
    if (!map.getPane("census")) map.createPane("census").style.zIndex = 450;
    var vg = C.tiles.layer(template, "components", { interactive: true, minZoom: options.minZoom, pane: "census",
                                                     style: function (p, zoom) {
      var s = style(p, zoom);
      return p.shape === "point" ? L.extend(s, { fill: true }) : { color: s.fillColor, weight: 4, fill: p.shape === "area",
                                                                   fillColor: s.fillColor, fillOpacity: 0.3 };
    } }).addTo(map);
    vg.on("click", function (e) {
      var p = e.layer.properties;
      var popup = L.popup().setLatLng(e.latlng).setContent(popupHtml(p, {}, {}, true)).openOn(map);
      C.api(url + encodeURIComponent(p.code) + "/").then(function (r) {
        if (!r.ok) return;
        var names = {}, labels = {};
        names[p.subclass] = r.data.subclass_name;
        labels[p.status] = r.data.status_label;
        popup.setContent(popupHtml(p, names, labels));
      });
      if (options.onClick) options.onClick({ properties: p });
    });
    return { layer: vg, refresh: function () { vg.redraw(); },
             count: function () { return Object.keys(C.tiles.features(vg)).length; } };
  }
  function componentLayer(map, url, datum, options) {
    options = options || {};
    if (options.tiles) return tiledLayer(map, url, options.tiles, options);
    var names = {}, labels = {};
    var layer = L.geoJSON(null, {
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, style(f.properties, map.getZoom())); },
      style: function (f) { var s = style(f.properties, map.getZoom()); return { color: s.fillColor, weight: 4 }; },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindPopup(popupHtml(p, names, labels));
        l.on("click", function () { if (options.onClick) options.onClick(f); });
      }
    }).addTo(map);
    var ticket = 0;
    function refresh() {
      var b = map.getBounds(), sw = datum.toStored(b.getSouthWest()), ne = datum.toStored(b.getNorthEast());
      var mine = ++ticket;
      C.api(url + "?zoom=" + map.getZoom() + "&bbox=" + [sw[0], sw[1], ne[0], ne[1]].map(function (v) {
        return v.toFixed(6); }).join(",")).then(function (r) {
        if (mine !== ticket || !r.ok) return;
        names = r.data.names || names;
        labels = r.data.status_labels || labels;
        layer.clearLayers();
        r.data.features.forEach(function (f) { f.geometry = datum.geometry(f.geometry); });
        layer.addData(r.data);
        if (options.onLoad) options.onLoad(r.data);
      }).catch(function () { /* offline: the layer keeps what it had */ });
    }
    map.on("moveend", refresh);
    refresh();
    return { layer: layer, refresh: refresh, count: function () { return layer.getLayers().length; } };
  }
  C.componentLayer = componentLayer;
})(window);
