"""pygeoapi's configuration, generated from the settings (never a hand-edited YAML holding a password): the
server, the city's metadata and one collection per database view (migrations/0001_feature_views.py), read through
pygeoapi's PostgreSQL provider connected as the runtime role of DATABASE_URL (the views are all it needs; the owner
never serves).

Which collections a caller is shown depends on who asks: the public collections to everyone, the census and the
pipes to the roles the policy lets read them (citygrid.policy) — each request is served by the configuration of
its caller's collections, built once per (base URL, collections) and kept."""

from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.db import connections

from grids.projection import metric_srid_for

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
CGCS2000 = 4490


def city_gk_srid() -> int:
    """The city's CGCS2000 3° Gauss-Krüger zone (EPSG:4547, central meridian 114°E, for Xiangtan), as the grid
    generator chooses it (grids.projection)."""
    return metric_srid_for(settings.LEAFLET_CONFIG["DEFAULT_CENTER"][1])


def crs_list() -> list[str]:
    return [CRS84, EPSG.format(CGCS2000), EPSG.format(city_gk_srid()), EPSG.format(4326)]


@dataclass(frozen=True)
class Collection:
    name: str
    view: str
    title: str
    title_zh: str
    description: str
    keywords: tuple[str, ...] = ()
    time_field: str | None = None
    scope: str = ""  # a restricted collection: the assets.scoping lookup its rows are filtered by
    policy: str = ""  # the citygrid.policy view name whose roles may read it
    extra: dict = field(default_factory=dict)


COLLECTIONS: tuple[Collection, ...] = (
    Collection("districts", "ogc_district", "Districts", "区县", "The city's districts and counties (GB/T 2260 codes).",
               ("行政区划", "district")),
    Collection("streets", "ogc_street", "Streets and towns", "街道（乡镇）",
               "Streets and towns, each with its district.", ("街道", "street")),
    Collection("communities", "ogc_community", "Communities and villages", "社区（村）",
               "Communities and villages, each with its street.", ("社区", "community")),
    Collection("cells", "ogc_cell", "Unit grid cells", "单元网格", "Unit grid cells (GB/T 30428), with their "
               "community, street and district codes.", ("单元网格", "cell")),
    Collection("cases", "ogc_public_case", "Published cases", "公开的案件", "Cases as the publication rule shows "
               "them (the same as Open311): category, status, place as published, never personal data.",
               ("城市管理", "Open311"), time_field="created_at"),
    Collection("components", "ogc_component", "Components (census)", "部件", "The component census, in the "
               "caller's scope; API token required.", ("部件普查",), scope="component", policy="ogc:components-items"),
    Collection("pipes", "ogc_pipe", "Pipe segments", "地下管线", "Pipe segments of the networks in the caller's "
               "scope; API token required.", ("地下管网",), scope="segment", policy="ogc:pipes-items"),
)
BY_NAME = {c.name: c for c in COLLECTIONS}
PUBLIC_COLLECTIONS = tuple(c.name for c in COLLECTIONS if not c.scope)
RESTRICTED_COLLECTIONS = tuple(c.name for c in COLLECTIONS if c.scope)


def _connection() -> dict:
    """The runtime role's connection (DATABASE_URL as Django has it; in tests the test database)."""
    db = connections["default"].settings_dict
    data = {"host": db.get("HOST") or "/var/run/postgresql", "dbname": db["NAME"], "user": db.get("USER") or "",
            "search_path": ["public"]}
    if db.get("PORT"):
        data["port"] = int(db["PORT"])
    if db.get("PASSWORD"):
        data["password"] = db["PASSWORD"]
    return data


def _extent() -> list[float]:
    """The city's bounding box (CRS84), which GIS clients zoom to; OGC_EXTENT before any boundary is imported."""
    from django.contrib.gis.db.models import Extent

    from grids.models import Area, Level

    found = Area.objects.filter(level=Level.CITY).aggregate(extent=Extent("geom"))["extent"]
    return [round(v, 6) for v in found] if found else list(settings.OGC_EXTENT)


def _resource(c: Collection, bbox: list[float]) -> dict:
    provider = {
        "type": "feature",
        "name": "ogc.providers.CityProvider",
        "data": _connection(),
        "id_field": "number" if c.view == "ogc_public_case" else "code",
        "table": c.view,
        "geom_field": "geom",
        "storage_crs": CRS84,
        "crs": crs_list(),
        "editable": False,
    }
    if c.time_field:
        provider["time_field"] = c.time_field
    if c.scope:
        provider["scope"] = c.scope
    return {
        "type": "collection",
        "title": {"en": c.title, "zh": c.title_zh},
        "description": {"en": c.description, "zh": c.title_zh},
        "keywords": list(c.keywords),
        "links": [],
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "providers": [provider],
    }


def _page_assets() -> dict:
    """What the HTML pages' frame loads from the project (hashed names in production) and the base map: the
    tiles only where they are in WGS84, as the stored data are (a GCJ-02 base map would be off by hundreds of
    metres; the pages that shift their drawing for it are the product's own)."""
    from django.templatetags.static import static

    return {"leaflet_css": static("leaflet/leaflet.css"), "leaflet_js": static("leaflet/leaflet.js"),
            "pages_js": static("ogc/pages.js"),
            "tiles": settings.TILE_URL if settings.TILE_DATUM == "wgs84" else "",
            "labels": {name: {"zh": zh, "en": en} for name, (zh, en) in PROPERTY_LABELS.items()}}


# The views' columns as the HTML tables head them (pygeoapi shows the property names, which stay the data's keys
# for GIS clients): in the page's language, translated by pygeoapi with the rest of the configuration.
PROPERTY_LABELS = {
    "id": ("编号", "id"), "code": ("编码", "code"), "name": ("名称", "name"), "number": ("案件编号", "case number"),
    "parent_code": ("上级编码", "parent code"), "district_code": ("区县编码", "district code"),
    "street_code": ("街道编码", "street code"), "community_code": ("社区编码", "community code"),
    "cell_code": ("单元网格编码", "cell code"), "updated_at": ("更新时间", "updated"),
    "created_at": ("上报时间", "reported"), "subclass": ("部件小类", "subclass"), "status": ("状态", "status"),
    "accuracy": ("精度", "accuracy"), "survey_date": ("普查日期", "survey date"),
    "bureau_code": ("责任单位编码", "bureau code"), "bureau": ("责任单位", "bureau"), "owner": ("权属单位", "owner"),
    "maintainer": ("养护单位", "maintainer"), "network_code": ("管网编码", "network code"), "kind": ("种类", "kind"),
    "material": ("材质", "material"), "diameter_mm": ("管径（毫米）", "diameter (mm)"),
    "pressure_class": ("压力等级", "pressure class"), "depth_start_m": ("起点埋深（米）", "depth at start (m)"),
    "depth_end_m": ("终点埋深（米）", "depth at end (m)"), "year_laid": ("敷设年份", "year laid"),
    "length_m": ("长度（米）", "length (m)"), "category": ("类别编码", "category code"),
    "category_name": ("类别", "category"), "open311_status": ("Open311 状态", "Open311 status"),
    "precision": ("位置精度", "location precision"), "place": ("位置", "place"), "description": ("描述", "description"),
}


@lru_cache(maxsize=64)
def build(base_url: str, names: tuple[str, ...]) -> dict:
    """The configuration serving `names` at `base_url` (e.g. https://city.example/ogc)."""
    bbox = _extent()
    return {
        "server": {
            "bind": {"host": "0.0.0.0", "port": 0},  # served by Django, not pygeoapi's own server
            "url": base_url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["zh-CN", "en-US"],
            "limits": {"default_items": settings.OGC_DEFAULT_ITEMS, "max_items": settings.OGC_MAX_ITEMS},
            "map": {"url": settings.TILE_URL, "attribution": settings.TILE_ATTRIBUTION},
            "pretty_print": False,
            # our page frame first (ogc/templates/pygeoapi/_base.html), pygeoapi's own templates behind it
            "templates": {"path": str(settings.BASE_DIR / "ogc" / "templates" / "pygeoapi")},
            # pygeoapi's labels in Chinese: messages.po compiled by `make` (compilemessages, ogc's), read by Babel
            "locale_dir": str(settings.BASE_DIR / "ogc" / "pygeoapi_locale"),
            "citygrid": _page_assets(),
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": settings.OGC_TITLE, "zh": settings.OGC_TITLE},
                "description": {"en": "The city's grid, published cases, component census and pipe networks "
                                      "(OGC API – Features)",
                                "zh": "城市网格、公开案件、部件普查与地下管网（OGC API – Features）"},
                "keywords": {"en": ["grid", "cases"], "zh": ["网格化管理", "城市管理"]},
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": base_url,
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": settings.OGC_TITLE, "url": base_url},
            "contact": {"name": settings.OGC_TITLE, "position": "", "address": "", "city": "", "stateorprovince": "",
                        "postalcode": "", "country": "China", "phone": "", "fax": "", "email": "", "url": base_url,
                        "hours": "", "instructions": "", "role": "pointOfContact"},
        },
        "resources": {name: _resource(BY_NAME[name], bbox) for name in names},
    }
