"""The demo city's sensors: a few of every kind in the centres of Xiangtan's districts, owned by the bureau that
runs that lifeline, with broker passwords issued (the simulator publishes for them as a gateway)."""

import contextlib
import random

from grids.models import Area, Bureau, Cell, Level

from .models import Sensor, SensorKind

# kind, how many per district, owner bureau (the city's, by code suffix; None: the district's own 城管局),
# name pattern, watched object pattern
DEMO_SENSORS = (
    ("pipe_pressure", 3, "SW", "供水管网压力监测点", "DN{dn} 供水干管"),
    ("pipe_flow", 1, "SW", "供水管网流量计", "DN{dn} 供水干管"),
    ("manhole_level", 4, None, "排水井液位计", "雨水井 YS-{n:04d}"),
    ("gas", 3, "RQ", "燃气管廊可燃气体探测器", "燃气阀井 RQ-{n:04d}"),
    ("cover_tilt", 2, None, "智能井盖", "污水井盖 WS-{n:04d}"),
    ("bridge_strain", 1, "JT", "桥梁应变计", "桥梁主梁跨中"),
    ("cable_temp", 1, "GD", "电缆测温", "10 kV 电缆隧道"),
)
DISTRICTS = ("430302", "430304")  # 雨湖区, 岳塘区: the demo's dispatchers' districts
PREFIX = {"pipe_pressure": "YL", "pipe_flow": "LL", "manhole_level": "YW", "gas": "RQ", "cover_tilt": "JG",
          "bridge_strain": "QL", "cable_temp": "DL"}


def load_demo_sensors() -> int:
    """Create the demo sensors that are missing and give new ones broker passwords; returns how many were made."""
    from .broker import BrokerError, issue_sensor_passwords

    kinds = {k.code: k for k in SensorKind.objects.all()}
    rnd = random.Random(16)
    made = []
    for district_code in DISTRICTS:
        district = Area.objects.filter(code=district_code, level=Level.DISTRICT).first()
        if district is None:
            continue
        cells = list(Cell.objects.filter(district=district).order_by("code")[:600])
        if not cells:
            continue
        for kind_code, count, owner_suffix, name, watched in DEMO_SENSORS:
            owner_code = f"430300-{owner_suffix}" if owner_suffix else f"{district_code}-CG"
            owner = Bureau.objects.filter(code=owner_code).first()
            if owner is None or kind_code not in kinds:
                continue
            for i in range(1, count + 1):
                code = f"{PREFIX[kind_code]}-{district_code[-2:]}{i:02d}"
                where = rnd.choice(cells).geom.point_on_surface
                if Sensor.objects.filter(code=code).exists():
                    continue
                n = rnd.randint(1, 9999)
                made.append(Sensor.objects.create(
                    code=code, name=f"{district.name}{name} {i}", kind=kinds[kind_code], owner=owner,
                    position=where, interval_s=60, watched_object=watched.format(n=n, dn=rnd.choice((300, 600, 800)))))
    # The devices' own accounts (the demo's simulator publishes as a gateway); without mosquitto_passwd the sensors
    # exist all the same, and their passwords can be issued later.
    with contextlib.suppress(BrokerError):
        issue_sensor_passwords(made)
    return len(made)
