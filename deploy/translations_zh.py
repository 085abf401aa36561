"""Fill citygrid/locale/zh_Hans/LC_MESSAGES/django.po from this table after `makemessages -l zh_Hans`.

Keeping the Chinese text here, next to its English source, makes it reviewable in one place; running this
script again after adding strings fills only empty translations.
"""

import re
import sys
from pathlib import Path

ZH = {
    "Dispatch and command": "派遣与指挥",
    "Pages": "页面",
    "CityGrid": "城市网格",
    "CityGrid urban management": "城市网格化管理平台",
    "Log out": "退出",
    "Language": "语言",
    "Switch": "切换",
    "City grid": "城市网格",
    "Click the map to find the grid cell of a place. Cells show from zoom 15.":
        "点击地图查询该位置所在的单元网格。放大到 15 级显示网格。",
    "Log in": "登录",
    "Wrong user name or password.": "用户名或密码错误。",
    "User name": "用户名",
    "Password": "密码",
    "Code %(code)s must contain digits only.": "编码 %(code)s 只能包含数字。",
    "Code %(code)s must have %(n)d digits at this level.": "该层级的编码 %(code)s 应为 %(n)d 位。",
    "Code %(code)s needs a parent area.": "编码 %(code)s 需要上级区域。",
    "District code %(code)s does not belong to city %(parent)s.": "区县编码 %(code)s 不属于城市 %(parent)s。",
    "Code %(code)s must start with its parent's code %(parent)s.": "编码 %(code)s 必须以上级编码 %(parent)s 开头。",
    "Code %(code)s: the sequence after the parent's code cannot be all zeros.":
        "编码 %(code)s：上级编码之后的顺序码不能全为零。",
    "Sequence %(seq)d does not fit in %(width)d digits.": "顺序号 %(seq)d 超出 %(width)d 位。",
    "City": "市",
    "District / county": "区/县",
    "Street / town": "街道/乡镇",
    "Community / village": "社区/村",
    "Urban management": "城市管理",
    "Housing and construction": "住房和城乡建设",
    "Transport": "交通运输",
    "Ecology and environment": "生态环境",
    "Water": "水务",
    "Power supply": "供电",
    "Gas": "燃气",
    "Parks and greenery": "园林绿化",
    "Telecommunications": "通信",
    "Public security and traffic police": "公安交警",
    "Fire and rescue": "消防救援",
    "Natural resources and planning": "自然资源和规划",
    "Market regulation": "市场监管",
    "Street office": "街道办事处",
    "Other": "其他",
    "code": "编码",
    "name": "名称",
    "kind": "类别",
    "district": "区县",
    "Empty for a city-level bureau.": "市级部门留空。",
    "contact person": "联系人",
    "contact phone": "联系电话",
    "contact e-mail": "联系邮箱",
    "active": "启用",
    "bureau": "部门",
    "bureaus": "部门",
    "Choose a district, not another level.": "请选择区县，而不是其他层级。",
    "level": "层级",
    "parent": "上级",
    "boundary": "边界",
    "responsible bureaus": "责任部门",
    "updated": "更新时间",
    "area": "区域",
    "areas": "区域",
    "A city has no parent area.": "城市没有上级区域。",
    "This level needs a parent area.": "该层级需要上级区域。",
    "The parent must be a %(level)s.": "上级必须是%(level)s。",
    "community": "社区",
    "inspectors": "网格员",
    "unit grid cell": "单元网格",
    "unit grid cells": "单元网格",
    "A cell belongs to a community.": "单元网格必须属于一个社区。",
    "Choose a community, not another level.": "请选择社区，而不是其他层级。",
    "Bureaus responsible for the areas above.": "上级区域的责任部门。",
    "Map zoom: geometry is simplified to about half a pixel.": "地图缩放级别：几何按约半个像素简化。",
    "Give four numbers: minLon,minLat,maxLon,maxLat.": "请给出四个数：最小经度,最小纬度,最大经度,最大纬度。",
    "Not a WGS84 box: need min < max within ±180/±90.": "不是有效的 WGS84 范围：需最小值<最大值且在 ±180/±90 内。",
    "Code of the parent area.": "上级区域编码。",
    "Code of a district, street or community: its cells only.": "区县、街道或社区编码：只返回其下的网格。",
    "WGS84 longitude": "WGS84 经度",
    "WGS84 latitude": "WGS84 纬度",
    "This location is outside the city's jurisdiction.": "该位置不在本市管辖范围内。",
    "Give a list of [lon, lat] pairs.": "请给出 [经度, 纬度] 列表。",
    "At most %(n)d points per request.": "每次请求最多 %(n)d 个点。",
    "Not a WGS84 [lon, lat] pair.": "不是有效的 WGS84 [经度, 纬度]。",
    "Cases": "案件",
    "People and access": "人员与权限",
    "Invalid, expired or revoked token.": "令牌无效、已过期或已吊销。",
    "User inactive or deleted.": "用户已停用或已删除。",
    "Empty for city-level staff, who see the whole city.": "市级人员留空（可查看全市）。",
    "phone": "电话",
    "staff profile": "人员信息",
    "staff profiles": "人员信息",
    "What or who uses this token.": "令牌的用途或使用者。",
    "expires": "过期时间",
    "revoked": "吊销时间",
    "API token": "API 令牌",
    "API tokens": "API 令牌",
    "Inspector": "网格员",
    "Call-centre operator": "受理员",
    "Dispatcher": "派遣员",
    "Bureau staff": "部门处置人员",
    "Leader": "领导",
    "Administrator": "系统管理员",
    "Simplified Chinese": "简体中文",
    "English": "English",
    "Base map": "底图",
}

ENTRY = re.compile(r'^msgid ((?:".*"\n)+)msgstr ""\n(?!")', re.M)


def _unquote(block: str) -> str:
    return "".join(re.findall(r'"(.*)"', block)).replace('\\"', '"').replace("\\n", "\n")


def fill(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    missing: list[str] = []

    def repl(match: re.Match) -> str:
        msgid = _unquote(match.group(1))
        if not msgid:
            return match.group(0)
        zh = ZH.get(msgid)
        if zh is None:
            missing.append(msgid)
            return match.group(0)
        return f'msgid {match.group(1)}msgstr "{zh}"\n'

    path.write_text(ENTRY.sub(repl, text), encoding="utf-8")
    return missing


if __name__ == "__main__":
    po = Path(__file__).resolve().parent.parent / "citygrid/locale/zh_Hans/LC_MESSAGES/django.po"
    left = fill(po)
    for msgid in left:
        print(f"untranslated: {msgid}", file=sys.stderr)
    sys.exit(1 if left else 0)
