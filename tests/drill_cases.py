"""Writes cases for the restore drill (tests/test_restore_drill.py) into the database of DATABASE_URL — the
drill's own cluster —, through the product's intake and lifecycle (each report with a photo, registered:
case, log entries, audit events and files, as in production); prints their numbers as JSON.

    python tests/drill_cases.py N TAG

The first run makes a small city (one community cut into cells) and its people."""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citygrid.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402

from citygrid import roles  # noqa: E402
from grids.generation import generate_cells  # noqa: E402
from grids.models import Area, Level  # noqa: E402
from incidents import intake, lifecycle  # noqa: E402
from tests.conftest import box, jpeg, make_user, point_in  # noqa: E402


def city() -> Area:
    community = Area.objects.filter(code="430302001001").first()
    if community is not None:
        return community
    c = Area.objects.create(level=Level.CITY, code="430300", name="湘潭市", geom=box(112.80, 27.80, 113.00, 27.90))
    west = Area.objects.create(level=Level.DISTRICT, code="430302", name="雨湖区", parent=c,
                               geom=box(112.80, 27.80, 112.90, 27.90))
    street = Area.objects.create(level=Level.STREET, code="430302001", name="城正街街道", parent=west,
                                 geom=box(112.85, 27.85, 112.90, 27.90))
    community = Area.objects.create(level=Level.COMMUNITY, code="430302001001", name="和平社区", parent=street,
                                    geom=box(112.880, 27.880, 112.890, 27.886))
    generate_cells(community, size=100)
    inspector = make_user("drill_inspector", roles.INSPECTOR, district=west)
    inspector.inspected_cells.set(community.cells.all())
    make_user("drill_operator", roles.OPERATOR)
    return community


def main(n: int, tag: str) -> list[str]:
    community = city()
    inspector = User.objects.get(username="drill_inspector")
    operator = User.objects.get(username="drill_operator")
    lon, lat = point_in(community)
    numbers = []
    for i in range(n):
        photo = SimpleUploadedFile(f"{tag}-{i}.jpg", jpeg(64 + i, 48), "image/jpeg")
        case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0102", source="inspector",
                                           description=f"drill {tag} {i}", photos=[photo]),
                             reporter=inspector).case
        lifecycle.register(case, operator, note=f"drill {tag}")
        numbers.append(case.number)
    return numbers


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2])))
