"""/ogc/: OGC API – Features. The public collections share patterns (their name is a path parameter limited to
them); each restricted collection has its own, so its policy and, for an item, its scope are declared by name."""

from django.urls import path, register_converter

from . import config, views


class PublicCollection:
    regex = "|".join(config.PUBLIC_COLLECTIONS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PublicCollection, "public_collection")

app_name = "ogc"
urlpatterns = [
    path("", views.landing, name="landing"),
    path("openapi", views.openapi, name="openapi"),
    path("conformance", views.conformance, name="conformance"),
    path("collections", views.collections, name="collections"),
    path("static/<path:path>", views.static, name="static"),
    path("collections/<public_collection:collection>", views.collections, name="collection"),
    path("collections/<public_collection:collection>/queryables", views.queryables, name="queryables"),
    path("collections/<public_collection:collection>/schema", views.schema, name="schema"),
    path("collections/<public_collection:collection>/items", views.items, name="items"),
    path("collections/<public_collection:collection>/items/<str:item>", views.item, name="item"),
]
for _name in config.RESTRICTED_COLLECTIONS:
    _base = f"collections/{_name}"
    urlpatterns += [
        path(_base, views.view(views.core.describe_collections, _name), name=_name),
        path(f"{_base}/queryables", views.view(views.itemtypes.get_collection_queryables, _name),
             name=f"{_name}-queryables"),
        path(f"{_base}/schema", views.view(views.core.get_collection_schema, _name), name=f"{_name}-schema"),
        path(f"{_base}/items", views.view(views.itemtypes.get_collection_items, _name), name=f"{_name}-items"),
        path(f"{_base}/items/<str:code>", views.view(views.itemtypes.get_collection_item, _name),
             name=f"{_name}-item"),
    ]
