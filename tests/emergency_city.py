"""The emergency pieces of the small test city: a flood headquarters and its plan, a crew, resources, the west
district's centre (雨湖区, like the demo's dispatcher_yuhu) — shared by the rules', pages' and bench's tests."""

from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile

from citygrid import roles
from emergency.catalogue import load_event_types
from emergency.models import EventType, Headquarters, Plan, PlanTask, Resource, StockItem
from grids.models import Bureau
from incidents import intake
from incidents.models import Source
from tests.conftest import jpeg, make_user, point_in


def emergency_city(people: dict) -> dict:
    if not EventType.objects.exists():  # transactional tests flush what the migration loaded
        load_event_types()
    west = people["west"]
    hq = Headquarters.objects.create(code="city-flood", name="湘潭市防汛抗旱指挥部", lead_bureau=people["water"],
                                     duty_phone="0731-12345678")
    hq.bureaus.set([people["water"], people["cg"]])
    safety = Headquarters.objects.create(code="city-safety", name="湘潭市安全生产委员会")
    flood = EventType.objects.get(code="flood")
    plan = Plan.objects.create(code="flood", version=1, name="湘潭市防汛应急预案", event_type=flood, most_severe=1,
                               least_severe=3, headquarters=hq, resources_note="排涝泵车、沙袋")
    plan.notify_bureaus.set([people["cg"]])
    PlanTask.objects.create(plan=plan, kind="first_response", title="排查积水点", bureau=people["cg"],
                            limit_minutes=30, order=1)
    PlanTask.objects.create(plan=plan, kind="drainage", title="调派排涝泵车抢排", bureau=people["water"],
                            limit_minutes=60, order=2)
    PlanTask.objects.create(plan=plan, kind="cordon", title="现场警戒、疏导交通", bureau=people["cg"],
                            limit_minutes=45, order=3)
    from dispatch.models import ResponseUnit

    lon, lat = point_in(people["a"])
    crew_account = make_user("crew_sw", roles.BUREAU_STAFF, bureau=people["water"])
    unit = ResponseUnit.objects.create(code="SW-01", name="排涝抢修一队", bureau=people["water"], kind="repair",
                                       account=crew_account, position=Point(lon + 0.001, lat, srid=4326))
    from django.utils import timezone

    ResponseUnit.objects.filter(pk=unit.pk).update(position_at=timezone.now())
    shelter = Resource.objects.create(code="BN-01", kind="shelter", name="和平社区避难场所", bureau=people["cg"],
                                      location=Point(lon + 0.002, lat + 0.001, srid=4326), capacity=800,
                                      contact_name="张三", contact_phone="13800000001", district=west)
    store = Resource.objects.create(code="WZ-01", kind="stockpile", name="雨湖区防汛物资仓库", bureau=people["water"],
                                    location=Point(lon - 0.004, lat, srid=4326), contact_phone="13800000002")
    StockItem.objects.create(resource=store, name="沙袋", quantity=5000, unit="条")
    StockItem.objects.create(resource=store, name="排涝泵", quantity=12, unit="台")
    far = Resource.objects.create(code="JY-09", kind="team", name="岳塘区救援队", bureau=people["cg"],
                                  location=Point(112.99, 27.81, srid=4326), size=30)
    return {"hq": hq, "safety": safety, "plan": plan, "flood": flood, "unit": unit, "crew": crew_account,
            "shelter": shelter, "store": store, "far": far,
            "west_dispatcher": make_user("disp_west", roles.DISPATCHER, district=west),
            "hq_member": _member(hq)}


def _member(hq: Headquarters) -> User:
    """A person of the headquarters whose bureau is no member and holds no task: membership alone lets him see."""
    weather = Bureau.objects.create(code="430300-QX", name="湘潭市气象局", kind=Bureau.Kind.OTHER)
    user = make_user("hq_member", roles.BUREAU_STAFF, bureau=weather)
    hq.people.add(user)
    return user


def flood_case(people: dict, community: str = "a", urgency: str = "emergency"):
    lon, lat = point_in(people[community])
    return intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0405", source=Source.INSPECTOR,
                                       urgency=urgency, description="暴雨，路面积水深约40厘米",
                                       photos=[SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]),
                         reporter=people["inspector"]).case


def square(lon: float, lat: float, half: float = 0.005) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon - half, lat - half], [lon + half, lat - half],
                                                [lon + half, lat + half], [lon - half, lat + half],
                                                [lon - half, lat - half]]]}


__all__ = ["emergency_city", "flood_case", "square", "Bureau"]
