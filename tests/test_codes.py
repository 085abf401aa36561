import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from grids import codes
from grids.models import Area, Cell, Level
from tests.conftest import box


@pytest.mark.parametrize(("level", "code", "parent"), [
    (codes.CITY, "430300", None),
    (codes.DISTRICT, "430302", "430300"),
    (codes.STREET, "430302001", "430302"),
    (codes.COMMUNITY, "430302001002", "430302001"),
    (codes.CELL, "430302001002017", "430302001002"),
])
def test_valid_codes(level, code, parent):
    codes.validate_code(level, code, parent)


@pytest.mark.parametrize(("level", "code", "parent", "reason"), [
    (codes.CELL, "43030200100201", "430302001002", "length"),
    (codes.CELL, "4303020010020170", "430302001002", "length"),
    (codes.CELL, "43030200100201A", "430302001002", "digits"),
    (codes.CELL, "430302001003017", "430302001002", "prefix"),
    (codes.CELL, "430302001002000", "430302001002", "zero"),
    (codes.DISTRICT, "430402", "430300", "prefix"),
    (codes.DISTRICT, "430300", "430300", "prefix"),
    (codes.STREET, "430302001", None, "parent"),
    (codes.STREET, "４３０３０２００１", "430302", "digits"),
])
def test_invalid_codes(level, code, parent, reason):
    with pytest.raises(ValidationError) as exc:
        codes.validate_code(level, code, parent)
    assert exc.value.code == reason


def test_child_code_pads_and_refuses_overflow():
    assert codes.child_code("430302001002", codes.CELL, 7) == "430302001002007"
    with pytest.raises(ValueError):
        codes.child_code("430302001002", codes.CELL, 1000)


@override_settings(GRID_CODE_WIDTHS=(6, 3, 3, 4))
def test_widths_are_configurable():
    assert codes.code_length(codes.CELL) == 16
    codes.validate_code(codes.CELL, "4303020010020017", "430302001002")
    with pytest.raises(ValidationError):
        codes.validate_code(codes.CELL, "430302001002017", "430302001002")


def test_area_save_validates_code_and_parent(city):
    bad = Area(level=Level.STREET, code="430304009", name="错", parent=city["west"],
               geom=box(112.8, 27.8, 112.81, 27.81))
    with pytest.raises(ValidationError) as exc:
        bad.save()
    assert "code" in exc.value.message_dict
    wrong_level = Area(level=Level.COMMUNITY, code="430302009", name="错", parent=city["west"],
                       geom=box(112.8, 27.8, 112.81, 27.81))
    with pytest.raises(ValidationError) as exc:
        wrong_level.save()
    assert "parent" in exc.value.message_dict
    assert not Area.objects.filter(name="错").exists()


def test_cell_save_validates_and_derives_hierarchy(city):
    cell = Cell(code="430302001001001", community=city["a"], geom=box(112.880, 27.880, 112.881, 27.881))
    cell.save()
    assert (cell.street, cell.district) == (city["street"], city["west"])
    with pytest.raises(ValidationError):
        Cell(code="430302001002001", community=city["a"], geom=box(112.880, 27.880, 112.881, 27.881)).save()
