"""The demo city's warning: a yellow rainstorm warning (暴雨黄色预警) over part of 雨湖区, issued by that district's
centre, for the next 24 hours — added when none is in force (so running load_demo again renews it)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from grids.models import Area, Level

from . import rules
from .warning_types import load_types

DISTRICT = "430302"  # 雨湖区
ISSUER = "dispatcher_yuhu"


def load_demo_warning() -> str:
    load_types()
    if rules.in_force().filter(exercise=False).exists():
        return "demo warning: one already in force"
    district = Area.objects.filter(code=DISTRICT, level=Level.DISTRICT).first()
    issuer = get_user_model().objects.filter(username=ISSUER).first()
    if district is None or issuer is None:
        return "demo warning: none (no 雨湖区 or no dispatcher_yuhu)"
    # A round area around the district's built-up centre, cut to the district, simplified as a hand would draw it.
    area = district.geom.point_on_surface.buffer(0.04).intersection(district.geom).simplify(0.002)
    if area.geom_type == "MultiPolygon":
        area = max(area, key=lambda p: p.area)
    area = type(area)(area.exterior_ring, srid=4326)  # no holes
    warning = rules.issue(issuer, rules.Draft(
        type="rainstorm", level="yellow", headline="雨湖区暴雨黄色预警",
        description="受强对流天气影响，预计未来6小时雨湖区城区降雨量将达50毫米以上，局地伴有雷电和短时大风。",
        instruction="注意防范城市内涝，低洼路段、下穿通道车辆绕行；户外作业人员注意避雨，远离危旧房屋和广告牌。",
        area=area.geojson, area_desc="雨湖区城区", expires=timezone.now() + timedelta(hours=24)))
    return f"demo warning: {warning.headline} added"
