"""GET /tiles/<layer>/<z>/<x>/<y>.pbf: one layer's Mapbox Vector Tile, made by PostGIS in one statement.

Each tile carries a strong ETag (a digest of its bytes, so it differs between users exactly when their tiles
differ) and answers If-None-Match with 304. The grid's layers are the same for every user and kept by the
browser for a few minutes; scoped layers (cases, components, pipes) are private and revalidated every time, so a
case that changed shows at the next redraw."""

import hashlib

from django.http import Http404, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.views import APIView

from citygrid import replicas

from .layers import LAYERS, MAX_ZOOM, Tile

CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
GRID_MAX_AGE = 300  # seconds: the grid changes by imports, rarely


class MVTRenderer(BaseRenderer):
    """Lets a client ask for tiles by type (Accept: application/vnd.mapbox-vector-tile); errors are JSON."""

    media_type = CONTENT_TYPE
    format = "pbf"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else b""


def etag_of(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def _matches(header: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


class TileView(APIView):
    """One layer's vector tile (Mapbox Vector Tile 2.1, extent 4096) for the user: see tiles.layers."""

    layer = ""
    renderer_classes = [JSONRenderer, MVTRenderer]

    # Binary tiles, not an API resource: left out of the OpenAPI document (and so of the schema fuzzing), as
    # before this view was described; README's "Vector tiles" documents the URLs.
    @extend_schema(exclude=True)
    def get(self, request, z: int, x: int, y: int):
        if z > MAX_ZOOM or x >= 2 ** z or y >= 2 ** z:
            raise Http404  # no such tile
        layer = LAYERS[self.layer]
        sql, params = layer.build(request, Tile(z, x, y))  # bad filters: 400 with field messages (DRF)
        with replicas.reading().cursor() as cur:
            cur.execute(f"SELECT {sql}", params)
            data = bytes(cur.fetchone()[0] or b"")
        etag = etag_of(data)
        cache_control = "private, no-cache" if layer.scoped else f"private, max-age={GRID_MAX_AGE}"
        if _matches(request.headers.get("If-None-Match", ""), etag):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(data, content_type=CONTENT_TYPE)
        response["ETag"] = etag
        response["Cache-Control"] = cache_control
        response["Vary"] = "Cookie, Authorization"
        return response
