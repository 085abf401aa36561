"""Demo dispatch data: routing rules from each subclass's default bureau kind, auto-dispatch for
emergencies, and a few cases at every stage of the loop, made through the product's own functions."""

import random

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from grids.models import Area, Bureau, Cell, Level
from incidents import intake, lifecycle
from incidents.models import Case, Category, Source
from incidents.photos import prepare_photo

from .models import DispatchPolicy, ResponseUnit, RoutingRule

DEMO_SCENARIOS = (  # subclass, description, how far along the loop
    ("SJ0102", "路口垃圾桶旁堆放大量生活垃圾", "closed"),
    ("SJ0501", "流动摊贩占用人行道经营", "processed"),
    ("BJ0109", "路灯不亮，夜间行人不便", "dispatched"),
    ("SJ0306", "路面坑洼，直径约半米", "registered"),
    ("SJ0201", "电线杆上张贴大量小广告", "reported"),
    ("SJ0405", "暴雨后低洼路段积水约三十厘米", "dispatched"),
    ("BJ0102", "污水井盖破损，存在安全隐患", "reported"),
)


def load_rules() -> int:
    """A city-wide rule per subclass to the city bureau of its kind; city management goes to each district's
    own bureau inside that district. Existing rules are kept."""
    if RoutingRule.objects.exists():
        return 0
    city_bureaus = {b.kind: b for b in Bureau.objects.filter(district__isnull=True, active=True)}
    made = 0
    for category in Category.objects.filter(parent__isnull=False, active=True):
        bureau = city_bureaus.get(category.default_bureau_kind)
        if bureau is not None:
            RoutingRule.objects.create(category=category, bureau=bureau)
            made += 1
        if category.default_bureau_kind == Bureau.Kind.CITY_MANAGEMENT:
            for district_bureau in Bureau.objects.filter(kind=Bureau.Kind.CITY_MANAGEMENT, district__isnull=False):
                RoutingRule.objects.create(category=category, area=district_bureau.district, bureau=district_bureau)
                made += 1
    emergencies = Category.objects.filter(code="SJ04").first()
    if emergencies is not None:
        DispatchPolicy.objects.get_or_create(category=emergencies, defaults={"auto_dispatch": True})
    return made


@transaction.atomic
def load_cases() -> int:
    """A few cases in 雨湖区, reported by its inspector and taken as far along the loop as their scenario says."""
    if Case.objects.exists():
        return 0
    rnd = random.Random(430302)
    inspector = User.objects.get(username="inspector_yuhu1")
    operator, dispatcher = User.objects.get(username="operator"), User.objects.get(username="dispatcher")
    cells = list(Cell.objects.filter(inspectors=inspector).order_by("code"))
    if not cells or not Area.objects.filter(level=Level.DISTRICT, code="430302").exists():
        return 0
    made = 0
    for code, description, stage in DEMO_SCENARIOS:
        point = rnd.choice(cells).geom.point_on_surface
        case = intake.submit(intake.Report(
            lon=point.x, lat=point.y, category=code, source=Source.INSPECTOR, description=description,
            urgency="emergency" if code.startswith("SJ04") else "normal",
            photos=[SimpleUploadedFile("demo.jpg", _jpeg(), "image/jpeg")]), reporter=inspector).case
        made += 1
        if stage == "reported":
            continue
        case = lifecycle.register(case, operator)  # routes it; emergencies are auto-dispatched
        if stage == "registered":
            continue
        if case.status == "registered":
            routed = getattr(case, "routing", None)
            bureau = routed.bureau if routed and routed.bureau else Bureau.objects.get(code="430302-CG")
            case = lifecycle.dispatch(case, dispatcher, bureau=bureau)
        staff = User.objects.filter(profile__bureau=case.bureau).first()
        if stage == "dispatched" or staff is None:
            continue
        case = lifecycle.accept(case, staff)
        case = lifecycle.process(case, staff, note="已处置完毕", photos=[
            prepare_photo(SimpleUploadedFile("after.jpg", _jpeg(), "image/jpeg"), keep_metadata=True)])
        if stage == "processed":
            continue
        case = lifecycle.verify(case, inspector, passed=True, note="现场核查已处理")
        lifecycle.close(case, operator, note="结案")
    return made


DEMO_UNITS = (  # code, name, kind, bureau, home district, crew size, the crew's phone account
    ("CG-01", "城管巡查一组", ResponseUnit.Kind.PATROL, "430300-CG", "430302", 3, "crew_cg1"),
    ("CG-02", "城管巡查二组", ResponseUnit.Kind.PATROL, "430300-CG", "430304", 3, None),
    ("YH-CG-01", "雨湖城管执法一队", ResponseUnit.Kind.PATROL, "430302-CG", "430302", 4, None),
    ("GD-01", "供电抢修一队", ResponseUnit.Kind.REPAIR, "430300-GD", "430304", 4, "crew_power1"),
    ("SW-01", "水务管网抢修队", ResponseUnit.Kind.REPAIR, "430300-SW", "430302", 5, None),
    ("RQ-01", "燃气抢险车", ResponseUnit.Kind.VEHICLE, "430300-RQ", "430304", 2, None),
    ("XF-01", "消防救援站（雨湖）", ResponseUnit.Kind.RESCUE, "430300-XF", "430302", 6, None),
)


def load_units() -> int:
    """Response units of the demo city's bureaus, on duty near the centre of their home district; two of them with
    a crew's phone account (crew_cg1, crew_power1). Existing units are kept as they are."""
    from django.utils import timezone

    rnd = random.Random(430300)
    made = 0
    for code, name, kind, bureau_code, district_code, crew, account in DEMO_UNITS:
        bureau = Bureau.objects.filter(code=bureau_code).first()
        district = Area.objects.filter(code=district_code, level=Level.DISTRICT).first()
        if bureau is None or district is None or ResponseUnit.objects.filter(code=code).exists():
            continue
        cells = list(Cell.objects.filter(district=district).order_by("code")[:400])
        where = rnd.choice(cells).geom.point_on_surface if cells else district.geom.point_on_surface
        ResponseUnit.objects.create(code=code, name=name, kind=kind, bureau=bureau, district=district, crew_size=crew,
                                    account=User.objects.filter(username=account).first() if account else None,
                                    position=where, position_at=timezone.now())
        made += 1
    return made


def load_history(n: int = 3000) -> int:
    """Generated case history over the demo city from the first day of the month before last up to now, so that
    the dashboards, the evaluation and last month's bulletin have something to show."""
    from django.db import connection
    from django.utils import timezone

    from .history import generate_history

    if not Cell.objects.exists():
        return 0
    # From a month's first day: last month's bulletin compares with a whole month before it (a history starting
    # late in that month made every figure grow six- to ninefold). Up to now, so that no day before today's demo
    # cases is empty in the leader's daily chart; the last day's cases are still in progress.
    now = timezone.now()
    today = timezone.localdate(now)
    years, month = divmod(today.month - 1 - 2, 12)  # the month before last (Jan → Nov of the year before)
    start = timezone.make_aware(timezone.datetime(today.year + years, month + 1, 1))
    added = generate_history(n, start, int((now - start).total_seconds()), "DM", skew=2.0)
    # Inspectors' patrols report most cases: the generated reports are their cell's inspector's, so that the
    # evaluation and the bulletin have inspectors' figures (reports, valid reports) to show.
    with connection.cursor() as cur:
        cur.execute("""
            UPDATE incidents_case c SET reporter_id = i.user_id
            FROM (SELECT cell_id, min(user_id) AS user_id FROM grids_cell_inspectors GROUP BY 1) i
            WHERE c.cell_id = i.cell_id AND c.number LIKE %s AND c.reporter_id IS NULL
              AND c.source = 'inspector'""", ["DM%"])
    return added


def _jpeg() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 480), (120, 140, 160))
    ImageDraw.Draw(img).rectangle((200, 160, 440, 320), fill=(90, 90, 90))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


HOTLINE_SCENARIOS = (  # subclass, source, caller, number, what they said, how far along the loop
    ("SJ0102", Source.HOTLINE_12345, "刘先生", "13907320101", "小区门口垃圾三天没人清运", "closed"),
    ("SJ0201", Source.HOTLINE_12345, "陈女士", "13807320202", "单元楼道贴满小广告", "closed"),
    ("SJ0502", Source.HOTLINE_12319, "周先生", "0731-58201234", "门面店外占道经营", "closed"),
    ("SJ0104", Source.WEB, "", "", "人行道上油污一大片", "reported"),
    ("SJ0102", Source.WEB, "赵女士", "13607320303", "垃圾桶满了溢到路上", "dispatched"),
)


@transaction.atomic
def load_hotline_cases() -> int:
    """Calls to the hotline and reports from the public web page in 雨湖区, some closed and waiting for the
    desk's callback (回访), made through the product's own functions."""
    if Case.objects.filter(source__in=[Source.HOTLINE_12345, Source.HOTLINE_12319, Source.WEB]).exists():
        return 0
    rnd = random.Random(12345)
    operator, dispatcher = User.objects.get(username="operator"), User.objects.get(username="dispatcher")
    inspector = User.objects.get(username="inspector_yuhu1")
    cells = list(Cell.objects.filter(inspectors=inspector).order_by("code"))
    if not cells:
        return 0
    made = 0
    for code, source, name, phone, description, stage in HOTLINE_SCENARIOS:
        point = rnd.choice(cells).geom.point_on_surface
        case = intake.submit(intake.Report(
            lon=point.x, lat=point.y, category=code, source=source, description=description, contact_name=name,
            contact_phone=phone), reporter=None if source == Source.WEB else operator).case
        made += 1
        if stage == "reported":
            continue
        case = lifecycle.register(case, operator)
        if case.status == "registered":
            routed = getattr(case, "routing", None)
            bureau = routed.bureau if routed and routed.bureau else Bureau.objects.get(code="430302-CG")
            case = lifecycle.dispatch(case, dispatcher, bureau=bureau)
        staff = User.objects.filter(profile__bureau=case.bureau).first()
        if stage == "dispatched" or staff is None:
            continue
        case = lifecycle.accept(case, staff)
        case = lifecycle.process(case, staff, note="已处置完毕", photos=[
            prepare_photo(SimpleUploadedFile("after.jpg", _jpeg(), "image/jpeg"), keep_metadata=True)])
        case = lifecycle.verify(case, inspector, passed=True, note="现场核查已处理")
        lifecycle.close(case, dispatcher, note="结案")
    return made
