#!/bin/sh
# Refreshes the front-end libraries vendored under frontend/static/vendor/ from the npm registry (run by a
# developer with network access; the files are committed so that the pages work on an intranet).
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent leaflet.markercluster@1.5.3 leaflet.heat@0.2.0 chart.js@4.6.1 >/dev/null \
  && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done )
out=frontend/static/vendor
mkdir -p $out/markercluster $out/leaflet-heat $out/chartjs
cp "$tmp"/leaflet.markercluster-1.5.3/package/dist/leaflet.markercluster.js \
   "$tmp"/leaflet.markercluster-1.5.3/package/dist/leaflet.markercluster.js.map \
   "$tmp"/leaflet.markercluster-1.5.3/package/dist/MarkerCluster.css \
   "$tmp"/leaflet.markercluster-1.5.3/package/dist/MarkerCluster.Default.css \
   "$tmp"/leaflet.markercluster-1.5.3/package/MIT-LICENCE.txt $out/markercluster/
cp "$tmp"/leaflet.heat-0.2.0/package/dist/leaflet-heat.js "$tmp"/leaflet.heat-0.2.0/package/LICENSE $out/leaflet-heat/
cp "$tmp"/chart.js-4.6.1/package/dist/chart.umd.min.js "$tmp"/chart.js-4.6.1/package/dist/chart.umd.min.js.map \
   "$tmp"/chart.js-4.6.1/package/LICENSE.md $out/chartjs/
# Leaflet.VectorGrid (vector tiles, tiles/): the bundled build; its licence (Beerware, in its README) and those of
# the libraries it bundles (the current releases of its declared ranges) gathered into one LICENSE.txt.
( cd "$tmp" && npm pack --silent leaflet.vectorgrid@1.3.0 pbf@3 topojson-client@2 vector-tile@1 whatwg-fetch@2 \
    geojson-vt@2 ieee754@1 >/dev/null && for f in leaflet.vectorgrid-*.tgz pbf-*.tgz topojson-client-*.tgz \
    vector-tile-*.tgz whatwg-fetch-*.tgz geojson-vt-*.tgz ieee754-*.tgz; do mkdir -p "x-${f%.tgz}" && tar xzf "$f" -C "x-${f%.tgz}"; done )
mkdir -p $out/vectorgrid
cp "$tmp"/x-leaflet.vectorgrid-1.3.0/package/dist/Leaflet.VectorGrid.bundled.min.js $out/vectorgrid/
{ echo "Leaflet.VectorGrid 1.3.0 (npm leaflet.vectorgrid, dist/Leaflet.VectorGrid.bundled.min.js)"; echo
  sed -n '/^----/,/^----/p' "$tmp"/x-leaflet.vectorgrid-1.3.0/package/README.md | head -12; echo
  echo "The bundled file includes the following, each under its own licence:"
  for d in "$tmp"/x-pbf-* "$tmp"/x-vector-tile-* "$tmp"/x-topojson-client-* "$tmp"/x-geojson-vt-* "$tmp"/x-whatwg-fetch-* \
           "$tmp"/x-ieee754-*; do echo; echo "==== ${d##*/x-} ===="; cat "$d"/package/LICENSE*; done
} > $out/vectorgrid/LICENSE.txt
echo "vendored into $out"
