"""OGC API – Features under /ogc/: pygeoapi's request handlers behind the project's door.

Each URL is a DRF view, so a request is authenticated as the API's are (`Authorization: Token …` or the page
session), its declared policy (citygrid.policy: public for the grid and the published cases, the census' and the
pipes' readers for those) and, for an item, its scope are checked before pygeoapi runs, refusals are audited by
the same middleware, and the public's requests are rate-limited per address (OGC_PUBLIC_RATE). pygeoapi then
answers with the configuration of the collections this caller may read, and the restricted collections' rows
are filtered by the caller's scope (ogc.providers). Only GET (and HEAD): nothing here is writable."""

from functools import lru_cache

import pygeoapi.api as core
import pygeoapi.api.itemtypes as itemtypes
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from pygeoapi import l10n
from pygeoapi.api import APIRequest, apply_gzip
from rest_framework.views import APIView

from citygrid.policy import PUBLIC, PolicyPermission, allows, policy_for

from . import config
from .providers import current_user
from .service import api_for, openapi_document

# The items' query parameters pygeoapi answers (Part 1 core, Part 2 CRS, Part 3 queryables) besides the
# collection's own properties; anything else is a 400 (Part 1, /req/core/query-param-unknown) rather than
# silently ignored — a misspelt filter must not return the whole collection.
ITEM_PARAMETERS = frozenset({"bbox", "bbox-crs", "crs", "f", "lang", "limit", "offset", "resulttype", "datetime",
                             "sortby", "properties", "skipGeometry", "q", "filter", "filter-lang", "filter-crs"})


@lru_cache(maxsize=16)
def _columns(view: str) -> frozenset[str]:
    with connection.cursor() as cursor:
        return frozenset(c.name for c in connection.introspection.get_table_description(cursor, view))


def unknown_parameters(collection: str, params) -> list[str]:
    known = ITEM_PARAMETERS | (_columns(config.BY_NAME[collection].view) - {"geom"})
    return sorted(set(params) - known)


def collections_for(user) -> tuple[str, ...]:
    """The collections this caller is shown: the public ones, and each restricted one its policy lets him read."""
    return config.PUBLIC_COLLECTIONS + tuple(
        c.name for c in config.COLLECTIONS if c.scope and allows(user, "GET", c.policy))


def base_url(request) -> str:
    return settings.OGC_BASE_URL or request.build_absolute_uri(reverse("ogc:landing")).rstrip("/")


class OgcView(APIView):
    permission_classes = [PolicyPermission]  # public URLs let anyone through; the rest need a reader's role
    http_method_names = ["get", "head", "options"]
    schema = None  # described by its own OpenAPI document (/ogc/openapi), not the staff API's
    operation = None  # a pygeoapi handler (api, request, *args)
    collection = ""  # the restricted collection a fixed URL serves

    def get(self, request, collection: str = "", item: str = "", code: str = ""):
        django_request = request._request
        if policy_for(request.resolver_match.view_name).read == PUBLIC and _limited(django_request):
            return JsonResponse({"code": "TooManyRequests", "description": _("Too many requests; wait a minute.")},
                                status=429, json_dumps_params={"ensure_ascii": False})
        base, names = base_url(django_request), collections_for(request.user)
        api = api_for(base, names)
        if type(self).operation is core.openapi_:
            api.openapi = openapi_document(base, names)
        _page_language(django_request)
        api_request = APIRequest.from_django(django_request, api.locales)
        args = [a for a in (self.collection or collection, code or item) if a]
        if type(self).operation is itemtypes.get_collection_items:
            unknown = unknown_parameters(args[0], request.query_params)
            if unknown:
                return JsonResponse({"code": "InvalidParameterValue", "description": _(
                    "Unknown query parameter: %(names)s.") % {"names": ", ".join(unknown)}}, status=400,
                    json_dumps_params={"ensure_ascii": False})
        if not api_request.is_valid():
            headers, status, content = api.get_format_exception(api_request)
        else:
            token = current_user.set(request.user)
            try:
                headers, status, content = type(self).operation(api, api_request, *args)
            finally:
                current_user.reset(token)
            content = apply_gzip(headers, content)
        response = HttpResponse(content, status=status)
        for key, value in headers.items():
            response[key] = value
        return response


class _Uncached(dict):
    """pygeoapi keeps the first configuration it translated for a language and renders every later page with it
    (l10n._cfg_cache, keyed by the language only): a page asked for under another host name linked the first one's
    stylesheet and home. Nothing is kept — each page translates its own configuration, a small dict's deep copy —
    which holds under gunicorn's threads too, where clearing the cache per request would not."""

    def get(self, key, default=None):
        return default

    def __setitem__(self, key, value) -> None:
        pass


l10n._cfg_cache = _Uncached()


def _page_language(request) -> None:
    """A page read in a browser speaks the product's language — the one the person chose, else Chinese
    (citygrid.middleware.ChineseFirstLocaleMiddleware) — whatever the browser's preference; a client asking for
    JSON keeps pygeoapi's negotiation (`lang=`, Accept-Language)."""
    wants_html = request.GET.get("f") == "html" or (
        "f" not in request.GET and "text/html" in request.headers.get("Accept", ""))
    if wants_html and "lang" not in request.GET:
        request.META["HTTP_ACCEPT_LANGUAGE"] = "en-US" if get_language().startswith("en") else "zh-CN"
        request.__dict__.pop("headers", None)  # HttpRequest.headers is read once and kept: read it again


def _limited(request) -> bool:
    from incidents.public_views import limited  # the public endpoints' per-address counter, audited on a hit

    return limited(request, "ogc-public", settings.OGC_PUBLIC_RATE)


def view(operation, collection: str = ""):
    return type(f"Ogc_{operation.__name__}", (OgcView,), {"operation": staticmethod(operation),
                                                           "collection": collection}).as_view()


landing = view(core.landing_page)
openapi = view(core.openapi_)
conformance = view(core.conformance)
collections = view(core.describe_collections)
schema = view(core.get_collection_schema)
queryables = view(itemtypes.get_collection_queryables)
items = view(itemtypes.get_collection_items)
item = view(itemtypes.get_collection_item)


def static(request, path: str):
    """pygeoapi's stylesheet and images for its HTML pages (files of the installed package, nothing else)."""
    from pathlib import Path

    import pygeoapi
    from django.views.static import serve

    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405)
    return serve(request, path, document_root=str(Path(pygeoapi.__file__).parent / "static"))
