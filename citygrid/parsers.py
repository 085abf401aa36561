"""Input no field can hold: PostgreSQL text cannot contain a NUL character, so a NUL anywhere in a request's
parameters or body is refused at the door with a 400 naming the field, instead of failing deep inside a
write with a 500. Query strings and forms are checked by `RejectNulMiddleware`, JSON bodies by
`JSONParser` (the API's parser everywhere)."""

from collections.abc import Callable, Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ValidationError

NUL = "\x00"


def _nul_fields(data: object, path: str = "") -> Iterator[str]:
    if isinstance(data, str):
        if NUL in data:
            yield path or "non_field_errors"
    elif isinstance(data, dict):
        for key, value in data.items():
            name = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                yield name.replace(NUL, "\\0")
            yield from _nul_fields(value, name)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _nul_fields(value, f"{path}[{i}]" if path else str(i))


def nul_errors(data: object) -> dict[str, list[str]]:
    return {name: [_("A NUL character is not allowed.")] for name in _nul_fields(data)}


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        errors = nul_errors(data)
        if errors:
            raise ValidationError(errors)
        return data


class InputGuardMiddleware:
    """A 400 with field messages, before any view runs, for a NUL character in the query string or a form's
    fields (JSON bodies: JSONParser above) and for a form over the upload limits (more files than
    PHOTO_MAX_COUNT, more field data than DATA_UPLOAD_MAX_MEMORY_SIZE): Django would answer those with a bare
    error page."""

    FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings
        from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

        fields = {k: request.GET.getlist(k) for k in request.GET}
        if request.method == "POST" and request.content_type in self.FORM_TYPES:
            try:
                fields.update({k: request.POST.getlist(k) for k in request.POST})
            except TooManyFilesSent:
                return self._refuse(request, {"photos": [_("At most %(n)d photos.") % {
                    "n": settings.DATA_UPLOAD_MAX_NUMBER_FILES}]})
            except (RequestDataTooBig, TooManyFieldsSent):
                return self._refuse(request, {"non_field_errors": [_("The request is too large.")]})
        errors = {k.replace(NUL, "\\0"): [_("A NUL character is not allowed.")]
                  for k, values in fields.items() if NUL in k or any(NUL in v for v in values)}
        if not errors:
            return self.get_response(request)
        return self._refuse(request, errors)

    @staticmethod
    def _refuse(request: HttpRequest, errors: dict[str, list[str]]) -> HttpResponse:
        if request.path_info.startswith("/open311/"):
            return JsonResponse([{"code": 400, "description": f"{name}: {messages[0]}"}
                                 for name, messages in errors.items()], status=400, safe=False)
        return JsonResponse(errors, status=400)
