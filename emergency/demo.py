"""The demo city's emergency command data: the special headquarters of Xiangtan (city and 雨湖区), plans for
floods, rainstorms, gas explosions, water-supply and power incidents, and emergency resources — shelters,
stockpiles, rescue teams and experts — placed in the districts' cells. Idempotent: what exists is kept."""

import random

from django.contrib.auth.models import User
from django.contrib.gis.geos import Point

from grids.models import Area, Bureau, Cell, Level

from .catalogue import load_event_types
from .models import EventType, Headquarters, Plan, PlanTask, Resource, StockItem

# code, name, district (None: city), lead bureau suffix, member bureau suffixes (city's, "D" the district's 城管局),
# people (demo usernames)
HEADQUARTERS = (
    ("xt-flood", "湘潭市防汛抗旱指挥部", None, "SW", ("SW", "CG", "JT", "JJ", "XF", "ZJ", "GD"), ("leader",)),
    ("xt-safety", "湘潭市安全生产委员会", None, "ZJ", ("ZJ", "RQ", "XF", "SJ", "HB"), ("leader",)),
    ("xt-forest-fire", "湘潭市森林防火指挥部", None, "YL", ("YL", "XF", "ZR"), ()),
    ("xt-lifeline", "湘潭市城市生命线安全指挥部", None, "CG", ("SW", "RQ", "GD", "TX", "CG"), ()),
    ("yh-flood", "雨湖区防汛抗旱指挥部", "430302", None, ("D", "SW", "JJ"), ()),
)
# code, name, event type, most/least severe level, headquarters, notified (suffixes), resources,
# tasks: (kind, title, owner suffix — "D" the district's 城管局 —, minutes)
PLANS = (
    ("xt-flood", "湘潭市防汛应急预案", "flood", 1, 3, "xt-flood", ("JT", "JJ"),
     "排涝泵车 10 台、沙袋 2 万条、冲锋舟 4 艘；避难场所开放",
     (("first_response", "排查积水点、设置警示", "CG", 30), ("drainage", "调派排涝泵车抢排积水", "SW", 60),
      ("traffic", "积水路段交通管制与疏导", "JJ", 45), ("evacuation", "低洼地带人员转移安置", "XF", 90),
      ("repair", "受损供电设施抢修", "GD", 120), ("information", "向社会发布汛情与出行提示", "CG", 60))),
    ("xt-rainstorm", "湘潭市城市内涝应急预案", "rainstorm", 2, 4, "xt-flood", ("JT",),
     "移动泵车、沙袋；下穿通道封闭设施",
     (("first_response", "易涝点巡查", "CG", 30), ("drainage", "排水管网疏通与抢排", "SW", 60),
      ("traffic", "下穿通道封闭与绕行", "JJ", 30))),
    ("yh-flood", "雨湖区防汛应急预案", "flood", 4, 4, "yh-flood", ("SW",),
     "区防汛物资仓库沙袋、抽水泵",
     (("first_response", "社区排查积水", "D", 30), ("drainage", "抽排积水", "SW", 60))),
    ("xt-gas", "湘潭市燃气突发事件应急预案", "gas_explosion", 1, 4, "xt-safety", ("JJ", "SJ"),
     "燃气抢险车、可燃气体检测仪",
     (("cordon", "现场警戒、疏散周边群众", "XF", 15), ("repair", "关阀断气、抢修漏点", "RQ", 60),
      ("traffic", "周边道路交通管制", "JJ", 20), ("medical", "伤员救治", "XF", 30))),
    ("xt-water", "湘潭市供水突发事件应急预案", "water_supply", 1, 4, "xt-lifeline", ("CG",),
     "供水抢修队、应急送水车",
     (("repair", "关阀抢修爆管", "SW", 120), ("supplies", "停水区域应急送水", "SW", 180),
      ("traffic", "抢修路段交通疏导", "JJ", 30))),
    ("xt-power", "湘潭市大面积停电应急预案", "power_outage", 1, 4, "xt-lifeline", ("SW", "TX"),
     "应急发电车",
     (("repair", "故障线路抢修、负荷转供", "GD", 120), ("supplies", "重要用户应急供电", "GD", 60))),
)
# kind, code prefix, name pattern, owner suffix, count per district, extra
RESOURCES = (
    ("shelter", "BN", "{district}应急避难场所{i}", "D", 4, {"capacity": (800, 5000)}),
    ("stockpile", "WZ", "{district}防汛物资储备库{i}", "SW", 2,
     {"items": (("沙袋", 20000, "条"), ("排涝泵", 12, "台"), ("救生衣", 500, "件"), ("冲锋舟", 2, "艘"))}),
    ("team", "JY", "{district}综合应急救援队{i}", "XF", 2, {"size": (20, 60), "speciality": "抢险救援"}),
    ("team", "QX", "{district}排水抢修队{i}", "SW", 1, {"size": (10, 30), "speciality": "排水抢修"}),
    ("expert", "ZJ", "{district}防汛专家{i}", "SW", 2, {"speciality": "水利工程"}),
)
DISTRICTS = ("430302", "430304")


def _bureau(suffix: str, district_code: str | None) -> Bureau | None:
    code = f"{district_code}-CG" if suffix == "D" else f"430300-{suffix}"
    return Bureau.objects.filter(code=code).first()


def load_demo_emergency() -> str:
    load_event_types()
    made = {"headquarters": 0, "plans": 0, "resources": 0}
    for code, name, district_code, lead, members, people in HEADQUARTERS:
        if Headquarters.objects.filter(code=code).exists():
            continue
        district = Area.objects.filter(code=district_code, level=Level.DISTRICT).first() if district_code else None
        if district_code and district is None:
            continue
        hq = Headquarters.objects.create(code=code, name=name, district=district,
                                         lead_bureau=_bureau(lead, district_code) if lead else None)
        hq.bureaus.set([b for b in (_bureau(s, district_code or "430302") for s in members) if b])
        hq.people.set(User.objects.filter(username__in=people))
        made["headquarters"] += 1
    for code, name, type_code, most, least, hq_code, notified, note, tasks in PLANS:
        hq = Headquarters.objects.filter(code=hq_code).first()
        if hq is None or Plan.objects.filter(code=code).exists():
            continue
        district_code = hq.district.code if hq.district_id else "430302"
        owners = [_bureau(t[2], district_code) for t in tasks]
        if not all(owners):  # no task without an owner: a demo city without the bureau gets no such plan
            continue
        plan = Plan.objects.create(code=code, name=name, event_type=EventType.objects.get(code=type_code),
                                   most_severe=most, least_severe=least, headquarters=hq, resources_note=note)
        plan.notify_bureaus.set([b for b in (_bureau(s, district_code) for s in notified) if b])
        for order, ((kind, title, _owner, minutes), owner) in enumerate(zip(tasks, owners, strict=True), start=1):
            PlanTask.objects.create(plan=plan, kind=kind, title=title, bureau=owner, limit_minutes=minutes, order=order)
        made["plans"] += 1
    rnd = random.Random(17)
    for district_code in DISTRICTS:
        district = Area.objects.filter(code=district_code, level=Level.DISTRICT).first()
        if district is None:
            continue
        cells = list(Cell.objects.filter(district=district).order_by("code")[:800])
        if not cells:
            continue
        for kind, prefix, pattern, owner, count, extra in RESOURCES:
            bureau = _bureau(owner, district_code)
            if bureau is None:
                continue
            for i in range(1, count + 1):
                code = f"{prefix}-{district_code[-2:]}{i:02d}"
                where = rnd.choice(cells).geom.point_on_surface
                if Resource.objects.filter(code=code).exists():
                    continue
                fields = {"capacity": rnd.randint(*extra["capacity"]) if "capacity" in extra else None,
                          "size": rnd.randint(*extra["size"]) if "size" in extra else None,
                          "speciality": extra.get("speciality", "")}
                r = Resource.objects.create(code=code, kind=kind, name=pattern.format(district=district.name, i=i),
                                            location=Point(where.x, where.y, srid=4326), district=district,
                                            bureau=bureau, contact_name="值班员",
                                            contact_phone=f"0731-5{rnd.randint(1000000, 9999999)}", **fields)
                for item, qty, unit in extra.get("items", ()):
                    StockItem.objects.create(resource=r, name=item, quantity=qty, unit=unit)
                made["resources"] += 1
    return ("demo emergency command: {headquarters} headquarters, {plans} plans, {resources} resources added"
            .format(**made))
