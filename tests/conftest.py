"""Fixtures: a small synthetic city on real PostGIS, built through the same model code the product uses."""

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.gis.geos import MultiPolygon, Polygon
from rest_framework.test import APIClient

from citygrid import roles
from citygrid.models import ApiToken, StaffProfile
from grids.generation import generate_cells
from grids.models import Area, Bureau, Level

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
