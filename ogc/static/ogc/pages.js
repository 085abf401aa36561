// The maps and the page-size menu of pygeoapi's HTML pages under /ogc/ (ogc/templates/pygeoapi/): pygeoapi's own
// draw them with Leaflet from a CDN and inline scripts, both refused by the site's Content Security Policy. Here
// they are drawn with the project's Leaflet from the same page's JSON (?f=json): the items of a page, one item, or
// a collection's extent. Points are circles, not Leaflet's default marker, whose icon path Leaflet guesses from
// its stylesheet's image name — which the production build's hashed names break.
(function () {
  "use strict";
  var body = document.body;

  function jsonUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("f", "json");
    return url.toString();
  }

  function itemLink(id) {
    var path = window.location.pathname.replace(/\/$/, "");
    if (!/\/items$/.test(path)) return null;
    return path + "/" + encodeURIComponent(id) + "?f=html";
  }

  function features(data) {
    return L.geoJSON(data, {
      style: { color: "#1565c0", weight: 2, fillOpacity: 0.15 },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, { radius: 6, color: "#1565c0", weight: 2, fillOpacity: 0.6 });
      },
      onEachFeature: function (feature, layer) {
        var href = feature.id !== undefined ? itemLink(feature.id) : null;
        if (!href) return;
        var a = document.createElement("a");
        a.href = href;
        a.textContent = String(feature.id);
        layer.bindPopup(a);
      },
    });
  }

  function extent(data) {
    var bbox = data.extent && data.extent.spatial && data.extent.spatial.bbox && data.extent.spatial.bbox[0];
    if (!bbox || bbox.length < 4) return null;
    return L.featureGroup([L.rectangle([[bbox[1], bbox[0]], [bbox[3], bbox[2]]],
                                       { color: "#1565c0", weight: 2, fillOpacity: 0.05 })]);
  }

  function draw(element, toLayer) {
    fetch(jsonUrl(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        var layer = toLayer(data);
        var bounds = layer && layer.getBounds();
        if (!bounds || !bounds.isValid()) {
          element.hidden = true;
          return;
        }
        var map = L.map(element, { attributionControl: Boolean(body.dataset.tiles) });
        if (body.dataset.tiles) {
          // No tile server (an intranet): the features still draw, on a plain background.
          L.tileLayer(body.dataset.tiles, { maxZoom: 19, attribution: body.dataset.attribution || "" }).addTo(map);
        }
        layer.addTo(map);
        map.fitBounds(bounds, { maxZoom: 17 });
      })
      .catch(function () {
        element.hidden = true;
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var items = document.getElementById("items-map");
    var collection = document.getElementById("collection-map");
    if (window.L && items) draw(items, features);
    if (window.L && collection) draw(collection, extent);
    var limits = document.getElementById("limits");
    if (limits) {
      var asked = new URL(window.location.href).searchParams.get("limit");
      if (asked && !Array.prototype.some.call(limits.options, function (o) { return o.value === asked; })) {
        limits.add(new Option(asked, asked), 0); // a size asked in the URL, not among the menu's
      }
      limits.value = asked || limits.options[0].value;
      limits.addEventListener("change", function () {
        var url = new URL(window.location.href);
        url.searchParams.set("limit", limits.value);
        url.searchParams.delete("offset");
        window.location.href = url.toString();
      });
    }
  });
})();
