"""What the public sees is a decision kept as data (incidents.publication), and ONE rule serves Open311 GET, the
public map and the tracking page: the tests below hold all three to it."""

import json
import re

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from incidents import intake, lifecycle
from incidents.models import Case, Category, Photo, Precision, PublicationRule, Source
from incidents.photos import prepare_photo
from incidents.publication import Rules, load_default_rules
from incidents.tracking import tracking_code
from tests.conftest import jpeg, point_in

PHONE, NAME, EMAIL = "13907310001", "王小明", "xiaoming@example.com"


def _rule(code: str | None, source: str = "", **kw) -> PublicationRule:
    category = Category.objects.get(code=code) if code else None
    return PublicationRule.objects.update_or_create(category=category, source=source, defaults=kw)[0]


@pytest.fixture
def rules(people):
    PublicationRule.objects.all().delete()
    return people


def test_the_most_specific_rule_wins_and_nothing_is_published_without_one(rules):
    sj0102, sj0103, sj0601 = (Category.objects.get(code=c).pk for c in ("SJ0102", "SJ0103", "SJ0601"))
    assert not Rules().decide(sj0102, Source.WEB).published  # no rule at all: not published
    _rule(None, published=True, precision=Precision.CELL)
    _rule(None, Source.HOTLINE_12345, published=True, precision=Precision.STREET)
    _rule("SJ01", published=False)
    _rule("SJ0102", published=True, precision=Precision.EXACT, show_description=True)
    _rule("SJ0102", Source.INSPECTOR, published=False)
    r = Rules()
    assert r.decide(sj0102, Source.WEB) == r.decide(sj0102, Source.OPEN311)
    assert r.decide(sj0102, Source.WEB).precision == Precision.EXACT and r.decide(sj0102, Source.WEB).show_description
    assert not r.decide(sj0102, Source.INSPECTOR).published  # subclass + source beats subclass
    assert not r.decide(sj0103, Source.WEB).published  # its major class beats every category
    assert not r.decide(sj0103, Source.HOTLINE_12345).published  # ... and every category's source rule too
    assert r.decide(sj0601, Source.HOTLINE_12345).precision == Precision.STREET
    assert r.decide(sj0601, Source.WEB).precision == Precision.CELL


def test_the_shipped_rules_keep_internal_reports_unpublished(rules):
    load_default_rules()
    r = Rules()
    illegal = Category.objects.get(code="SJ0101").pk  # 私搭乱建: internal enforcement
    assert not any(r.decide(illegal, s).published for s in Source.values)
    rubbish = Category.objects.get(code="SJ0102").pk
    assert r.decide(rubbish, Source.WEB).published and r.decide(rubbish, Source.WEB).precision == Precision.CELL
    assert r.decide(rubbish, Source.HOTLINE_12345).precision == Precision.STREET
    assert not r.decide(rubbish, Source.WEB).show_description
    assert load_default_rules() == 0  # idempotent, and an administrator's change is kept


def _report(people, code: str, source: str, description: str = "垃圾桶旁有垃圾", photo: bool = False) -> Case:
    lon, lat = point_in(people["a"])
    lon, lat = lon + 0.0002, lat + 0.0001  # inside the cell, ~20 m off its centre
    photos = [SimpleUploadedFile("before.jpg", jpeg(), "image/jpeg")] if photo else []
    return intake.submit(intake.Report(lon=lon, lat=lat, category=code, source=source, description=description,
                                       address="雨湖路 88 号 3 单元", contact_name=NAME, contact_phone=PHONE,
                                       contact_email=EMAIL, photos=photos)).case


def _open311(client) -> dict:
    return {r["service_request_id"]: r for r in client.get("/open311/v2/requests.json").json()}


def _public_map(client) -> dict:
    body = client.get(reverse("public:cases")).json()
    return {f["id"]: f for f in body["features"]}


def _track(client, number: str) -> tuple[str, dict]:
    page = client.get(reverse("frontend:track", args=[number]), {"code": tracking_code(number)})
    assert page.status_code == 200
    html = page.content.decode()
    config = json.loads(re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S)[1])
    return html, config


def _close(x: float, y: float) -> tuple[float, float]:
    return round(x, 9), round(y, 9)


def test_one_rule_for_open311_the_public_map_and_the_tracking_page(client, rules):
    _rule(None, published=True, precision=Precision.CELL)
    _rule(None, Source.HOTLINE_12345, published=True, precision=Precision.STREET)
    _rule("SJ0102", published=True, precision=Precision.EXACT, show_description=True)
    _rule("SJ0101", published=False)
    exact = _report(rules, "SJ0102", Source.WEB, "路口垃圾，请尽快清理")
    cell = _report(rules, "SJ0601", Source.WEB, "夜里噪声，我是 3 单元的王先生")
    street = _report(rules, "SJ0601", Source.HOTLINE_12345, "楼下施工噪声")
    hidden = _report(rules, "SJ0101", Source.WEB, "有人在楼顶私搭乱建")
    anchors = {
        exact.number: _close(exact.location.x, exact.location.y),
        cell.number: _close(*cell.cell.geom.point_on_surface.coords),
        street.number: _close(*street.street.geom.point_on_surface.coords),
    }
    open311, public_map = _open311(client), _public_map(client)
    assert set(open311) == set(public_map) == set(anchors)  # the same cases listed; the unpublished nowhere
    assert client.get(f"/open311/v2/requests/{hidden.number}.json").status_code == 404
    assert client.get("/open311/v2/requests.json", {"service_request_id": hidden.number}).json() == []
    for number, anchor in anchors.items():
        assert _close(open311[number]["long"], open311[number]["lat"]) == anchor, number
        assert _close(*public_map[number]["geometry"]["coordinates"]) == anchor, number
        html, config = _track(client, number)
        assert _close(*config["point"]) == anchor, number
    # The snapped ones are not at the reported point, and their place is named by areas only.
    assert anchors[cell.number] != _close(cell.location.x, cell.location.y)
    assert open311[cell.number]["address"] == "雨湖区 城正街街道 和平社区"
    assert open311[street.number]["address"] == public_map[street.number]["properties"]["place"] == "雨湖区 城正街街道"
    assert open311[exact.number]["address"] == "雨湖路 88 号 3 单元"
    # Descriptions only where the rule shows them.
    assert open311[exact.number]["description"] == public_map[exact.number]["properties"]["description"] \
        == "路口垃圾，请尽快清理"
    assert open311[cell.number]["description"] == public_map[cell.number]["properties"]["description"] == ""
    assert "王先生" not in _track(client, cell.number)[0]
    # The unpublished case: its reporter still follows its status, but nothing of where or what.
    html, config = _track(client, hidden.number)
    assert config["point"] is None and 'id="map"' not in html and "楼顶" not in html and "雨湖路" not in html
    assert "私搭乱建" in html and 'data-status="reported"' in html
    # Never personal data, anywhere.
    everything = (client.get("/open311/v2/requests.json").content + client.get("/open311/v2/requests.xml").content
                  + client.get(reverse("public:cases")).content).decode()
    everything += "".join(_track(client, n)[0] for n in (exact.number, cell.number, street.number, hidden.number))
    for secret in (PHONE, NAME, EMAIL, "王小明"):
        assert secret not in everything


def test_a_changed_rule_changes_all_three_at_once(client, rules):
    rule = _rule(None, published=True, precision=Precision.CELL)
    case = _report(rules, "SJ0601", Source.WEB)
    assert case.number in _open311(client) and case.number in _public_map(client)
    assert _track(client, case.number)[1]["point"] is not None
    rule.published = False
    rule.save()
    assert _open311(client) == {} and _public_map(client) == {}
    assert client.get(f"/open311/v2/requests/{case.number}.xml").status_code == 404
    assert _track(client, case.number)[1]["point"] is None
    rule.published, rule.precision = True, Precision.STREET
    rule.save()
    street = _close(*case.street.geom.point_on_surface.coords)
    assert _close(*_public_map(client)[case.number]["geometry"]["coordinates"]) == street
    assert _close(_open311(client)[case.number]["long"], _open311(client)[case.number]["lat"]) == street


def test_the_public_map_leaves_merged_and_refused_reports_out(client, rules):
    _rule(None, published=True)
    first = _report(rules, "SJ0601", Source.WEB)
    second = _report(rules, "SJ0601", Source.WEB)
    third = _report(rules, "SJ0601", Source.WEB)
    lifecycle.merge(second, rules["dispatcher"], into=first)
    lifecycle.reject(third, rules["dispatcher"], reason="重复上报")
    assert set(_public_map(client)) == {first.number}
    assert set(_open311(client)) == {first.number, second.number, third.number}  # Open311 lists every state


def _to_closed(case: Case, people) -> Case:
    staff, dispatcher = people["cg_staff"], people["dispatcher"]
    case = lifecycle.register(case, dispatcher)
    case.refresh_from_db()
    if case.status != "dispatched":
        case = lifecycle.dispatch(case, dispatcher, bureau=people["cg"], note="就近")
    case = lifecycle.accept(case, staff)
    after = prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)
    case = lifecycle.process(case, staff, note="已清理", photos=[after])
    return case


def test_tracking_shows_stages_and_the_after_photo_only_once_verified(client, rules):
    _rule(None, published=True, show_photos=True)
    case = _to_closed(_report(rules, "SJ0102", Source.WEB, photo=True), rules)
    html, _ = _track(client, case.number)
    assert 'data-action="process"' in html and "after-photos" not in html  # fixed, not yet verified
    photo = Photo.objects.get(case=case, kind="after")
    url = reverse("frontend:track-photo", args=[case.number, photo.pk])
    assert client.get(url, {"code": tracking_code(case.number)}).status_code == 404
    case = lifecycle.verify(case, rules["inspector"], passed=True, location=Point(*point_in(rules["a"])))
    lifecycle.close(case, rules["dispatcher"])
    html, _ = _track(client, case.number)
    for action in ("report", "register", "dispatch", "accept", "process", "verify_pass", "close"):
        assert f'data-action="{action}"' in html, action
    assert 'data-action="route"' not in html and "雨湖区城管局" in html  # internal steps stay internal
    assert f"photos/{photo.pk}/" in html
    image = client.get(url, {"code": tracking_code(case.number)})
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert client.get(url, {"code": "AAAAA-AAAAA"}).status_code == 404
    before = Photo.objects.get(case=case, kind="before")  # the reporter's own photo is not the public's
    assert client.get(reverse("frontend:track-photo", args=[case.number, before.pk]),
                      {"code": tracking_code(case.number)}).status_code == 404
    # another case's number and its own good code do not open this case's photo
    other = _to_closed(_report(rules, "SJ0102", Source.WEB, description="另一处垃圾"), rules)
    other = lifecycle.verify(other, rules["inspector"], passed=True, location=Point(*point_in(rules["a"])))
    assert Photo.objects.filter(case=other, kind="after").exists()  # it has verified after-photos of its own
    assert client.get(reverse("frontend:track-photo", args=[other.number, photo.pk]),
                      {"code": tracking_code(other.number)}).status_code == 404
    PublicationRule.objects.update(show_photos=False)  # the rule decides photos too
    assert "after-photos" not in _track(client, case.number)[0]
    assert client.get(url, {"code": tracking_code(case.number)}).status_code == 404


def test_a_tracking_page_needs_the_code_and_does_not_tell_whether_a_case_exists(client, rules):
    _rule(None, published=True)
    case = _report(rules, "SJ0102", Source.WEB)
    url = reverse("frontend:track", args=[case.number])
    code = tracking_code(case.number)
    assert client.get(url, {"code": code.lower().replace("-", " ")}).status_code == 200  # as a person types it
    wrong = client.get(url, {"code": "ABCDE-FGHIJ"})
    missing = client.get(reverse("frontend:track", args=["20991231999999"]), {"code": "ABCDE-FGHIJ"})
    assert wrong.status_code == missing.status_code == 404
    def strip(response, number: str) -> str:  # the number asked for and the form's random CSRF mask aside
        html = response.content.decode().replace(number, "N")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)

    assert strip(wrong, case.number) == strip(missing, "20991231999999")  # the same answer either way
    assert case.description not in wrong.content.decode()
    assert client.get(url).status_code == 200 and 'name="code"' in client.get(url).content.decode()  # the form
    assert tracking_code(case.number) != tracking_code(str(int(case.number) + 1))
    lookup = client.get(reverse("frontend:track-lookup"), {"number": case.number, "code": code})
    assert lookup.status_code == 302 and lookup["Location"].startswith(url)


def test_tracking_is_rate_limited_per_address(client, rules, settings):
    settings.PUBLIC_READ_RATE = "3/h"
    url = reverse("frontend:track", args=["20260101000001"])
    codes = [client.get(url, {"code": f"AAAAA-AAAA{c}"}).status_code for c in "BCDEF"]
    assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]
