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
echo "vendored into $out"
