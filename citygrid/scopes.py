"""Object scopes: for every URL that names an object (a case number, a photo id, a unit code…), the policy
declares the scope the object is looked up in (`Policy.scope`), and `PolicyPermission` resolves it before
the view does any work. An object outside the caller's scope answers 404, as if it did not exist, and the
refusal is recorded in the audit trail when the object does exist.

The apps that own the objects register their lookups here (`register`), so this module knows no model
above the grid: incidents registers "case" and "photo", dispatch "assignment", "unit" and "area-figures".
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest


@dataclass(frozen=True)
class Lookup:
    """`visible(user, **kwargs)` returns the object if the user may reach it, else None; `exists(**kwargs)` says
    whether such an object exists at all (to tell a probe out of scope from a typo in the audit trail)."""

    visible: Callable[..., Any | None]
    exists: Callable[..., bool]


_LOOKUPS: dict[str, Lookup] = {}


def register(name: str, *, visible: Callable[..., Any | None], exists: Callable[..., bool]) -> None:
    _LOOKUPS[name] = Lookup(visible, exists)


def registered() -> frozenset[str]:
    return frozenset(_LOOKUPS)


def resolve(request: HttpRequest, name: str, kwargs: dict[str, Any]) -> Any:
    """The object the URL names, if the requesting user may reach it; Http404 otherwise."""
    from .audit import record

    lookup = _LOOKUPS.get(name)
    if lookup is None:  # a declared scope nobody registered: fail closed
        raise Http404
    found = lookup.visible(request.user, **kwargs)
    if found is None:
        if lookup.exists(**kwargs):
            record("out_of_scope", request=request, target=request.get_full_path()[:200], result="denied",
                   detail=f"{name} {' '.join(f'{k}={v}' for k, v in sorted(kwargs.items()))}"[:500])
        raise Http404
    return found


def scoped_object(request: HttpRequest) -> Any:
    """The object PolicyPermission resolved for this request (views call this, never look objects up by id)."""
    target = getattr(request, "_citygrid_scoped_object", None)
    if target is None:
        raise Http404
    return target


def remember(request: HttpRequest, obj: Any) -> None:
    request._citygrid_scoped_object = obj
    # DRF wraps the Django request: keep the object where either can see it.
    inner = getattr(request, "_request", None)
    if inner is not None:
        inner._citygrid_scoped_object = obj


def any_of(qs: QuerySet, conditions: list[Q]) -> QuerySet:
    """The rows of `qs` matching any of the conditions a user's roles grant; none when no role grants any (a
    scope is the union of what each role held reaches, and fails closed)."""
    if not conditions:
        return qs.none()
    query = conditions[0]
    for condition in conditions[1:]:
        query |= condition
    return qs.filter(query)
