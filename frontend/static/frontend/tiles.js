// Vector tiles (tiles/: Mapbox Vector Tiles made by PostGIS) through the vendored Leaflet.VectorGrid, for the layers
// whose GeoJSON grows heavy: the cells and the census. The server gives the tiles' URLs only for a WGS84 base map
// (tiles are cut in the Web Mercator of the stored coordinates, which a GCJ-02 base map does not share: there the
// pages keep their shifted GeoJSON) and when VECTOR_TILES is on.
(function (global) {
  "use strict";
  var C = global.CityGrid = global.CityGrid || {};
  function url(cfg, layer) { return cfg && cfg.tiles && L.vectorGrid ? cfg.tiles[layer] : null; }
  // One layer of a tile set as a Leaflet layer. Interactive layers are drawn in SVG (Leaflet.VectorGrid 1.3's canvas
  // click handler calls an API Leaflet 1.9 no longer has), the others on canvas.
  function layer(template, name, options) {
    options = options || {};
    var styles = {};
    styles[name] = options.style;
    var vg = L.vectorGrid.protobuf(template, {
      rendererFactory: options.interactive ? L.svg.tile : L.canvas.tile,
      vectorTileLayerStyles: styles,
      interactive: !!options.interactive,
      getFeatureId: function (f) { return f.id; },
      minZoom: options.minZoom || 0,
      maxZoom: 22,
      fetchOptions: { credentials: "same-origin" },
      pane: options.pane || "tilePane"
    });
    // A clicked point is taken for a marker by Leaflet 1.9, which asks for its LatLng; Leaflet.VectorGrid 1.3's
    // points know only their place in the tile: each is given its LatLng once its tile is drawn.
    if (options.interactive) {
      vg.on("tileload", function (e) {
        var drawn = (vg._vectorTiles[vg._tileCoordsToKey(e.coords)] || {})._features || {};
        var origin = e.coords.scaleBy(vg.getTileSize());
        Object.keys(drawn).forEach(function (id) {
          var f = drawn[id].feature;
          if (f._point && !f._latlng && vg._map) f._latlng = vg._map.unproject(origin.add(f._point), e.coords.z);
        });
      });
    }
    return vg;
  }
  // The distinct features drawn in the tiles loaded now, by id: their properties (for the tests and the pages).
  function features(vg) {
    var out = {};
    Object.keys(vg._vectorTiles || {}).forEach(function (key) {
      var drawn = vg._vectorTiles[key]._features || {};
      Object.keys(drawn).forEach(function (id) { out[id] = drawn[id].feature.properties; });
    });
    return out;
  }
  C.tiles = { url: url, layer: layer, features: features };
})(window);
