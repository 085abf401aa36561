"""The gazetteer (地名地址) at a city's size (issue 18).

Generates N addresses (default 1,000,000): about N / 390 roads with two-character names and a suffix (路, 街, 大道,
北路…, some names shared by several suffixes, as 建设路 and 建设北路 are), each with door numbers 1–300 along it,
every tenth door a compound of three buildings (栋), and five landmarks per road with aliases; written straight
into the tables (INSERT … SELECT on the server; the importer's own speed is another matter, not measured here).
Then times, in this process (the function the API calls; one connection, over the local socket):
  - geocoding a messy test set — exact, full-width digits, Chinese numerals, 号院, buildings as 幢/号楼, a province
    and city in front, no 号, a homophone typed for one character of the road (what a pinyin keyboard or a phone
    line does), a random wrong character, landmarks by alias and with a wrong character —: p50/p95 and the hit
    rate (the expected address first), per kind of mess — target p95 ≤ 20 ms;
  - reverse geocoding of random points among the addresses: p50/p95.

--smoke: 20,000 addresses, 150 queries, 200 reverse lookups, in the smoke database (bench/_django.py): run by
tests/test_bench_smoke.py.

Usage: python bench/gazetteer.py [--addresses 1000000] [--queries 1500] [--reverse 2000] [--smoke]
"""

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _django  # noqa: E402

# Characters that name roads; homophones among them are found with pypinyin.
NAME_CHARS = ("建设人民解放中山韶湘潭雨湖岳塘书院宝塔芙蓉晓板车站平政和东西南北新华光明胜利友谊红旗工农团结幸福"
              "长青松柏桂花梅兰竹菊金银铜铁石泉江河湖海山岭峰云霞星月日天风雷雪冰清源远安康永宁泰昌盛兴旺富贵"
              "华丽文武德仁义礼智信忠孝诚实育才学府城乡村镇园林桥渡口湾洲岛坪塘堤坝沙滩港航运商贸")
SUFFIXES = ("路", "街", "大道", "北路", "南路", "中路", "巷")
LANDMARK_KINDS = ("医院", "小学", "中学", "公园", "大厦", "广场", "酒店", "超市", "银行", "幼儿园")
PER_ROAD_DOORS = 300
COMPOUND_EVERY = 10
BUILDINGS = 3
LANDMARKS_PER_ROAD = 5
CENTRE = (112.92, 27.86)
CN_DIGITS = "零一二三四五六七八九"


def chinese(n: int) -> str:
    """12 → 十二, 105 → 一百零五 (as a caller says a door number)."""
    if n < 10:
        return CN_DIGITS[n]
    if n < 20:
        return "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return CN_DIGITS[n // 10] + "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + CN_DIGITS[rest]) if rest < 10 else chinese(rest) if rest >= 20 else \
        "一" + chinese(rest)
    return CN_DIGITS[n // 100] + "百" + tail


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


def road_names(count: int, rnd: random.Random) -> list[str]:
    chars = list(dict.fromkeys(NAME_CHARS))
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        stem = rnd.choice(chars) + rnd.choice(chars)
        if stem[0] == stem[1]:
            continue
        for suffix in rnd.sample(SUFFIXES, rnd.choice((1, 1, 1, 2, 3))):  # some stems have several roads
            if stem + suffix not in seen and len(names) < count:
                seen.add(stem + suffix)
                names.append(stem + suffix)
    return names


def generate(n: int, rnd: random.Random) -> dict:
    """Roads, their names, addresses and landmarks; returns what the test set needs."""
    from django.db import connection

    from gazetteer.models import Address, Name, Road
    from gazetteer.records import name_texts

    per_road = PER_ROAD_DOORS + PER_ROAD_DOORS // COMPOUND_EVERY * BUILDINGS + LANDMARKS_PER_ROAD
    count = max(1, round(n / per_road))
    names = road_names(count, rnd)
    t = time.perf_counter()
    from citygrid import dbroles

    # An earlier run's million rows emptied whole (Django's delete() would load them all to cascade: 2 GB).
    with dbroles.as_owner(), connection.cursor() as cur:
        cur.execute("TRUNCATE gazetteer_name, gazetteer_address, gazetteer_road")
    roads = Road.objects.bulk_create(Road(name=name) for name in names)
    Name.objects.bulk_create((Name(road=r, text=text, sound=sound) for r in roads
                              for text, sound in name_texts([r.name])), batch_size=5000)
    # Each road a straight line of 10 m per number from a random start within 25 km of the centre.
    layout = []
    for r in roads:
        x0 = CENTRE[0] + rnd.uniform(-0.25, 0.25)
        y0 = CENTRE[1] + rnd.uniform(-0.22, 0.22)
        angle = rnd.uniform(0, 3.1416)
        layout.append((r.id, r.name, x0, y0, 0.00009 * math.cos(angle), 0.00009 * math.sin(angle)))
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_roads (id int, name text, x0 float8, y0 float8, dx float8, dy float8)")
        from psycopg2.extras import execute_values

        execute_values(cur.cursor, "INSERT INTO bench_roads VALUES %s", layout, page_size=5000)
        cur.execute("""
            INSERT INTO gazetteer_address (code, kind, road_id, number, number_value, sub, name, aliases, text, geom,
                                           source)
            SELECT 'B' || r.id || '-' || n, 'door', r.id, n::text, n, '', '', '', r.name || n || '号',
                   ST_SetSRID(ST_MakePoint(r.x0 + n * r.dx + (n %% 2) * r.dy * 0.15,
                                           r.y0 + n * r.dy - (n %% 2) * r.dx * 0.15), 4326), 'bench'
            FROM bench_roads r, generate_series(1, %s) n""", [PER_ROAD_DOORS])
        cur.execute("""
            INSERT INTO gazetteer_address (code, kind, road_id, number, number_value, sub, name, aliases, text, geom,
                                           source)
            SELECT 'B' || r.id || '-' || n || '-' || b, 'building', r.id, n::text, n, b || '栋', '', '',
                   r.name || n || '号' || b || '栋',
                   ST_SetSRID(ST_MakePoint(r.x0 + n * r.dx + r.dy * b * 0.3, r.y0 + n * r.dy - r.dx * b * 0.3), 4326),
                   'bench'
            FROM bench_roads r, generate_series(%s, %s, %s) n, generate_series(1, %s) b""",
                    [COMPOUND_EVERY, PER_ROAD_DOORS, COMPOUND_EVERY, BUILDINGS])
        cur.execute("DROP TABLE bench_roads")
    # Landmarks: officially 湘潭市 + their road's stem and a kind (湘潭市建设医院), said without the city (the alias).
    landmarks = []
    taken: set[str] = set()
    for road_id, name, x0, y0, dx, dy in layout:
        stem = name[:2]
        for kind in rnd.sample(LANDMARK_KINDS, LANDMARKS_PER_ROAD):
            title = f"{stem}{kind}"
            if title in taken:
                title = f"{name}{kind}"
            if title in taken:
                continue
            taken.add(title)
            number = rnd.randint(1, PER_ROAD_DOORS)
            x, y = x0 + number * dx + dy * 0.5, y0 + number * dy - dx * 0.5
            landmarks.append(Address(code=f"B{road_id}-poi-{kind}", kind="poi", road_id=road_id, number=str(number),
                                     number_value=number, name=f"湘潭市{title}", aliases=title,
                                     text=f"湘潭市{title}（{name}{number}号）", source="bench",
                                     geom=f"SRID=4326;POINT({x} {y})"))
    Address.objects.bulk_create(landmarks, batch_size=5000)
    Name.objects.bulk_create((Name(address=a, text=text, sound=sound) for a in landmarks
                              for text, sound in name_texts([a.name, a.aliases])), batch_size=5000)
    from citygrid.dbroles import analyze

    analyze("gazetteer_road", "gazetteer_address", "gazetteer_name")
    total = Address.objects.count()
    print(f"generated {total:,} addresses on {len(roads):,} roads ({len(landmarks):,} landmarks) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    return {"roads": layout, "landmarks": [(a.code, a.name) for a in landmarks]}  # the official names


def homophones() -> dict[str, list[str]]:
    """For each name character, the other name characters (and common ones) said the same way."""
    from pypinyin import lazy_pinyin

    pool = list(dict.fromkeys(NAME_CHARS + "见件坚简剑键舰贤现县线先仙鲜显险香乡箱想响向象像祥详享翔"
                                           "少烧稍绍哨邵捎梢人仁忍任认刃仍日入如汝乳辱若弱"))
    by_sound: dict[str, list[str]] = {}
    for c in pool:
        by_sound.setdefault(lazy_pinyin(c)[0], []).append(c)
    return {c: [o for o in by_sound[lazy_pinyin(c)[0]] if o != c] for c in NAME_CHARS}


def test_set(data: dict, size: int, rnd: random.Random) -> list[tuple[str, str, str]]:
    """(kind of mess, query, expected address code)."""
    same = homophones()
    other = list(dict.fromkeys(NAME_CHARS))
    out = []
    roads = data["roads"]
    kinds = ("exact", "full-width digits", "Chinese numerals", "号院", "building 幢/号楼", "province and city",
             "no 号", "homophone in the road", "wrong character in the road", "landmark by alias",
             "landmark, wrong character")
    for i in range(size):
        kind = kinds[i % len(kinds)]
        road_id, name, *_ = rnd.choice(roads)
        n = rnd.randint(1, PER_ROAD_DOORS)
        compound = rnd.randint(1, PER_ROAD_DOORS // COMPOUND_EVERY) * COMPOUND_EVERY
        expected = f"B{road_id}-{n}"
        if kind == "exact":
            query = f"{name}{n}号"
        elif kind == "full-width digits":
            query = full_width(f"{name}{n}号")
        elif kind == "Chinese numerals":
            query = f"{name}{chinese(n)}号"
        elif kind == "号院":
            query, expected = f"{name}{compound}号院", f"B{road_id}-{compound}"
        elif kind == "building 幢/号楼":
            b = rnd.randint(1, BUILDINGS)
            query = f"{name}{compound}号院{b}{'幢' if i % 2 else '号楼'}"
            expected = f"B{road_id}-{compound}-{b}"
        elif kind == "province and city":
            query = f"湖南省湘潭市{name}{n}号"
        elif kind == "no 号":
            query = f"{name} {n}"
        elif kind == "homophone in the road":
            k = rnd.choice([k for k in (0, 1) if same.get(name[k])] or [0])
            swap = same.get(name[k]) or [name[k]]
            query = f"{name[:k]}{rnd.choice(swap)}{name[k + 1:]}{n}号"
        elif kind == "wrong character in the road":
            k = rnd.randint(0, 1)
            query = f"{name[:k]}{rnd.choice([c for c in other if c not in name])}{name[k + 1:]}{n}号"
        else:
            code, title = rnd.choice(data["landmarks"])
            expected = code
            if kind == "landmark by alias":
                from gazetteer.models import Address

                query = Address.objects.filter(code=code).values_list("aliases", flat=True).first() or title
            else:  # one character of the official name wrong (not of 湘潭市)
                k = rnd.randint(3, len(title) - 1)
                query = title[:k] + rnd.choice([c for c in other if c not in title]) + title[k + 1:]
        out.append((kind, query, expected))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addresses", type=int)
    parser.add_argument("--queries", type=int)
    parser.add_argument("--reverse", type=int)
    parser.add_argument("--smoke", action="store_true", help="20,000 addresses and few queries")
    args = parser.parse_args()
    n = args.addresses or (20_000 if args.smoke else 1_000_000)
    queries_n = args.queries or (150 if args.smoke else 1500)
    reverse_n = args.reverse or (200 if args.smoke else 2000)
    _django.setup(smoke=args.smoke)
    from gazetteer.models import Address
    from gazetteer.search import clear_cache, geocode, reverse

    rnd = random.Random(18)
    data = generate(n, rnd)
    clear_cache()
    tests = test_set(data, queries_n, rnd)
    codes = {}
    geocode("预热", 10)  # the first call loads pypinyin's dictionaries: not a query's cost
    times, per_kind = [], {}
    t_all = time.perf_counter()
    for kind, query, expected in tests:
        t = time.perf_counter()
        found = geocode(query, 10)
        times.append((time.perf_counter() - t) * 1000)
        first = found[0].id if found and found[0].kind != "road" else None
        codes.setdefault(expected, Address.objects.filter(code=expected).values_list("id", flat=True).first())
        hit = first is not None and first == codes[expected]
        top5 = any(c.id == codes[expected] and c.kind != "road" for c in found[:5])
        stats = per_kind.setdefault(kind, [0, 0, 0, []])
        stats[0] += 1
        stats[1] += hit
        stats[2] += top5
        stats[3].append(times[-1])
    elapsed = time.perf_counter() - t_all
    times.sort()
    hits = sum(k[1] for k in per_kind.values())
    top5 = sum(k[2] for k in per_kind.values())
    print(f"geocode over {Address.objects.count():,} addresses: {len(tests) / elapsed:,.0f} queries/s, "
          f"p50 {_django.percentile(times, 0.5):.1f} ms, p95 {_django.percentile(times, 0.95):.1f} ms, "
          f"max {times[-1]:.1f} ms ({len(tests)} queries, one connection)")
    print(f"hit rate on the messy test set: {hits / len(tests):.1%} first, {top5 / len(tests):.1%} in the first 5 "
          f"({len(tests)} queries)")
    for kind, (total, hit, five, took) in per_kind.items():
        took.sort()
        print(f"  {kind:<28} {hit / total:6.1%} first, {five / total:6.1%} in 5  ({total}; p50 "
              f"{_django.percentile(took, 0.5):.1f} ms, p95 {_django.percentile(took, 0.95):.1f} ms)")
    xs = [(x0 + k * dx, y0 + k * dy) for _, _, x0, y0, dx, dy in data["roads"] for k in (50, 150, 250)]
    times = []
    distances = []
    for _ in range(reverse_n):
        x, y = rnd.choice(xs)
        x, y = x + rnd.uniform(-0.0005, 0.0005), y + rnd.uniform(-0.0005, 0.0005)
        t = time.perf_counter()
        nearest = reverse(x, y)
        times.append((time.perf_counter() - t) * 1000)
        if nearest:
            distances.append(nearest.distance_m)
    times.sort()
    distances.sort()
    print(f"reverse geocode: p50 {_django.percentile(times, 0.5):.1f} ms, p95 {_django.percentile(times, 0.95):.1f} "
          f"ms ({reverse_n} points; {len(distances)} with a door number within 500 m, median distance "
          f"{_django.percentile(distances, 0.5) if distances else 0:.0f} m)")
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
