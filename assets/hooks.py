"""What apps above this one tell it, without this app importing them: incidents registers how to list the
cases of a component a user may see (the component's detail shows them)."""

from collections.abc import Callable
from typing import Any

_case_listers: list[Callable[[Any, Any], list[dict]]] = []


def register_case_lister(function: Callable[[Any, Any], list[dict]]) -> None:
    if function not in _case_listers:
        _case_listers.append(function)


def component_cases(component, user) -> list[dict]:
    """The cases about this component the user may see, newest first, from every registered lister."""
    found: list[dict] = []
    for lister in _case_listers:
        found.extend(lister(component, user))
    return found
