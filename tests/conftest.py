"""Fixtures: a small synthetic city on real PostGIS, built through the same model code the product uses."""

import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.gis.geos import MultiPolygon, Polygon
from rest_framework.test import APIClient

from citygrid import roles
from citygrid.models import ApiToken, StaffProfile
from grids.generation import generate_cells
from grids.models import Area, Bureau, Level


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_modify_db_settings, django_db_blocker):
    """The test database as in production: the administrator creates it (PostGIS needs a superuser) owned by
    the owner role, which migrates it; the tests then run connected as the runtime role, so that a missing
    grant fails a test. Transactional tests flush between tests as the owner (citygrid's `flush`). Under
    pytest-xdist each worker has its own database (pytest-django's suffix, django_db_modify_db_settings)."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from citygrid import dbroles

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        name = connection.creation._get_test_db_name()
        dbroles.create_database(name, replace=True)
        with dbroles.as_owner():
            config = setup_databases(verbosity=verbosity, interactive=False, keepdb=True, serialized_aliases=set())
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=verbosity, keepdb=True)
        dbroles.drop_database(name)


# A 0.2° × 0.1° city around Xiangtan, two districts side by side, one street and two communities in the
# west district: community A is a plain rectangle, community B an irregular pentagon.
CITY_BOX = (112.80, 27.80, 113.00, 27.90)


def box(x0, y0, x1, y1) -> MultiPolygon:
    return MultiPolygon(Polygon.from_bbox((x0, y0, x1, y1)), srid=4326)


def poly(*coords) -> MultiPolygon:
    return MultiPolygon(Polygon([*coords, coords[0]]), srid=4326)


@pytest.fixture
def city(db) -> dict[str, Area]:
    c = Area(level=Level.CITY, code="430300", name="湘潭市", geom=box(*CITY_BOX))
    c.save()
    west = Area(level=Level.DISTRICT, code="430302", name="雨湖区", parent=c, geom=box(112.80, 27.80, 112.90, 27.90))
    west.save()
    east = Area(level=Level.DISTRICT, code="430304", name="岳塘区", parent=c, geom=box(112.90, 27.80, 113.00, 27.90))
    east.save()
    street = Area(level=Level.STREET, code="430302001", name="城正街街道", parent=west,
                  geom=box(112.85, 27.85, 112.90, 27.90))
    street.save()
    a = Area(level=Level.COMMUNITY, code="430302001001", name="和平社区", parent=street,
             geom=box(112.880, 27.880, 112.890, 27.886))
    a.save()
    b = Area(level=Level.COMMUNITY, code="430302001002", name="建设社区", parent=street,
             geom=poly((112.8903, 27.8801), (112.8990, 27.8812), (112.8985, 27.8893), (112.8944, 27.8861),
                       (112.8911, 27.8889)))
    b.save()
    return {"city": c, "west": west, "east": east, "street": street, "a": a, "b": b}


@pytest.fixture
def gridded(city) -> dict[str, Area]:
    generate_cells(city["a"], size=100)
    generate_cells(city["b"], size=100)
    return city


def make_user(username: str, role: str, district: Area | None = None, bureau: Bureau | None = None) -> User:
    user = User.objects.create_user(username=username, password="Correct-horse-42", first_name=username)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    StaffProfile.objects.create(user=user, district=district, bureau=bureau)
    return user


@pytest.fixture
def dispatcher(db) -> User:
    return make_user("disp", roles.DISPATCHER)


@pytest.fixture
def api(dispatcher) -> APIClient:
    client = APIClient()
    _, key = ApiToken.issue(dispatcher, "tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The product hashes with PBKDF2; tests create many users and only need hashing to work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def catalogue(db):
    # Transactional tests flush the tables a migration filled; put the catalogue back when it is gone.
    from incidents.catalogue import forget_cached, load_catalogue
    from incidents.models import Category, TimeLimit

    forget_cached()
    if not Category.objects.exists():
        load_catalogue(Category, TimeLimit)
    yield
    forget_cached()


@pytest.fixture
def people(gridded, catalogue) -> dict:
    cg = Bureau.objects.create(code="430302-CG", name="雨湖区城管局", kind=Bureau.Kind.CITY_MANAGEMENT,
                               district=gridded["west"])
    water = Bureau.objects.create(code="430300-SW", name="湘潭市水务局", kind=Bureau.Kind.WATER)
    inspector = make_user("insp", roles.INSPECTOR, district=gridded["west"])
    inspector.inspected_cells.set(gridded["a"].cells.all())
    return {
        "inspector": inspector,
        "other_inspector": make_user("insp2", roles.INSPECTOR, district=gridded["west"]),
        "operator": make_user("oper", roles.OPERATOR),
        "dispatcher": make_user("disp_city", roles.DISPATCHER),
        "east_dispatcher": make_user("disp_east", roles.DISPATCHER, district=gridded["east"]),
        "cg_staff": make_user("cg1", roles.BUREAU_STAFF, bureau=cg),
        "water_staff": make_user("sw1", roles.BUREAU_STAFF, bureau=water),
        "leader": make_user("lead", roles.LEADER),
        "cg": cg, "water": water, **gridded,
    }


def api_client(user) -> APIClient:
    client = APIClient()
    _, key = ApiToken.issue(user, "tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def jpeg(width: int = 64, height: int = 48, exif: bytes | None = None) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "JPEG", **({"exif": exif} if exif else {}))
    return out.getvalue()


def point_in(community: Area):
    p = community.cells.order_by("code")[10].geom.point_on_surface
    return p.x, p.y


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Photos written by tests go to a scratch folder, not the checkout's var/media.
    settings.MEDIA_ROOT = tmp_path / "media"


def redis_url_for_tests(run_url: str) -> str:
    """The Redis database the tests count rate limits in, and clear before every test: TEST_REDIS_URL's, else
    database 15 of `make run`'s Redis server. Each pytest-xdist worker (`make test` runs one a core) takes the next
    database down, never `make run`'s (REDIS_URL's), which they would clear."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    run = urlsplit(run_url)
    taken = int(run.path.strip("/") or 0)
    base = urlsplit(os.environ.get("TEST_REDIS_URL") or run_url)
    first = int(base.path.strip("/") or 0) if os.environ.get("TEST_REDIS_URL") else 15
    free = [n % 16 for n in range(first, first - 16, -1) if n % 16 != taken or base.netloc != run.netloc]
    if worker >= len(free):
        raise RuntimeError(f"pytest worker {worker}: a Redis server has 16 databases, one kept for `make run`; "
                           "run fewer workers (TEST_WORKERS)")
    return urlunsplit(base._replace(path=f"/{free[worker]}"))


@pytest.fixture(scope="session", autouse=True)
def _redis_of_their_own():
    # Rate-limit counts of `make run` (REDIS_URL, database 1 by default) are not the tests' to clear.
    from django.conf import settings
    from django.test import override_settings

    if settings.REDIS_URL == "off":  # counts kept per process: nothing shared
        yield
        return
    url = redis_url_for_tests(settings.REDIS_URL)
    with override_settings(REDIS_URL=url, CACHES={"default": {**settings.CACHES["default"], "LOCATION": url}}):
        yield


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Rate-limit counts live in Redis, beyond the test database's rollback: start every test from zero (in the
    # tests' own Redis database, _redis_of_their_own).
    from django.core.cache import cache

    cache.clear()  # with Redis down this does nothing (citygrid.cache), as the limiter then counts nothing


@pytest.fixture(scope="session")
def live_server(request, tmp_path_factory):
    """The live server as `make run` serves it: static files collected with hashed names and served by WhiteNoise
    (tests/browser.py), for the whole session once started (its middleware reads the folder when it starts)."""
    import os
    from pathlib import Path

    from django.conf import settings
    from django.test.utils import override_settings

    from tests.browser import collect_static, production_storages, start_live_server

    # Where `make` collects them for `make run` (var/static unless STATIC_ROOT says otherwise): collected again only
    # if the sources changed since.
    root = Path(settings.STATIC_ROOT)
    collect_static(root)
    production = override_settings(STATIC_ROOT=root, STORAGES=production_storages())
    production.enable()
    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = start_live_server(addr)
    yield server
    server.stop()
    production.disable()


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    """The product's Mosquitto as `manage.py mqtt_broker start` runs it, on a free port with its own files: the
    ingest's account at first; `mqtt_registry` rewrites the password file and ACL from a test's sensors."""
    from django.test import override_settings

    from monitoring import broker
    from tests.servers import free_port

    directory = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    with override_settings(MQTT_URL=f"mqtt://127.0.0.1:{port}", MQTT_DIR=directory):
        broker.start(directory, port, registry=False)
        try:
            yield {"dir": directory, "port": port, "url": f"mqtt://127.0.0.1:{port}"}
        finally:
            broker.stop(directory)


def _renew_ingest_session(mqtt_broker: dict) -> None:
    """The broker is the session's, the ingest's persistent session each test's own: what an earlier test
    published and no ingest took (a reading to a sensor code that comes back, with another id, in the next
    test's registry) would otherwise be delivered into this test. A clean-session connection under the ingest's
    client id discards the old session; then it is opened afresh, as `mqtt_broker start` opens it."""
    import threading

    import paho.mqtt.client as mqtt
    from django.conf import settings

    from monitoring import broker
    from monitoring.ingest import MqttIngest

    connected = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=MqttIngest.CLIENT_ID, clean_session=True,
                         protocol=mqtt.MQTTv311)
    client.username_pw_set(settings.MQTT_INGEST_USER, broker.ingest_password(mqtt_broker["dir"]))
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", mqtt_broker["port"], keepalive=10)
    client.loop_start()
    try:
        assert connected.wait(10), "could not reach the test broker as the ingest"
    finally:
        client.disconnect()
        client.loop_stop()
    broker.open_ingest_session("127.0.0.1", mqtt_broker["port"], mqtt_broker["dir"])


@pytest.fixture
def mqtt_registry(mqtt_broker, settings):
    """Rewrite the broker's password file and ACL from the registry as it is now, and make the broker read them."""
    from monitoring import broker

    settings.MQTT_URL, settings.MQTT_DIR = mqtt_broker["url"], mqtt_broker["dir"]
    _renew_ingest_session(mqtt_broker)

    def refresh() -> None:
        broker.write_config(mqtt_broker["dir"], mqtt_broker["port"])
        assert broker.reload(mqtt_broker["dir"])  # returns once the broker has read them

    return refresh
