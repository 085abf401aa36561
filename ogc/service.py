"""The pygeoapi API objects serving /ogc/, one per (base URL, collections shown), built from ogc.config."""

from functools import lru_cache

import pygeoapi.api.itemtypes as itemtypes
from pygeoapi.api import API
from pygeoapi.openapi import get_oas

from . import config

# Declare only the conformance classes that hold here: Features Part 1 (core, GeoJSON, HTML, OpenAPI 3.0), Part 2
# (CRS by reference) and Part 3's queryables with their query parameters. pygeoapi also declares Part 4
# (create/replace/delete) and Part 5 (schemas) for every feature collection: nothing here may be written, and
# the schema conformance is not tested, so they are withdrawn rather than claimed.
_WITHDRAWN = ("ogcapi-features-4/", "ogcapi-features-5/")
itemtypes.CONFORMANCE_CLASSES_FEATURES[:] = [c for c in itemtypes.CONFORMANCE_CLASSES_FEATURES
                                             if not any(w in c for w in _WITHDRAWN)]


@lru_cache(maxsize=32)
def api_for(base_url: str, names: tuple[str, ...]) -> API:
    """The OpenAPI document is attached when first asked for (openapi_document): generating it reads every
    collection's columns and takes seconds, which no other request should wait for."""
    return API(config.build(base_url, names), None)


@lru_cache(maxsize=32)
def openapi_document(base_url: str, names: tuple[str, ...]) -> dict:
    return get_oas(config.build(base_url, names), fail_on_invalid_collection=False)
