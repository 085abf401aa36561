from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


class ChineseFirstLocaleMiddleware:
    """The language a person chose (the language cookie), else Chinese; the browser's preference is ignored,
    because shared command-centre machines often run English-language browsers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        response.headers.setdefault("Vary", "Cookie")
        return response


class PasswordChangeRequiredMiddleware:
    """Outside DEBUG, a user whose password is an initial or demo one can do nothing but change it."""

    ALLOWED = ("password_change", "password_change_done", "logout", "login", "set_language")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.http import JsonResponse
        from django.shortcuts import redirect
        from django.urls import resolve
        from django.utils.translation import gettext as _

        user = getattr(request, "user", None)
        profile = getattr(user, "profile", None) if user is not None and user.is_authenticated else None
        if settings.FORCE_PASSWORD_CHANGE and profile is not None and profile.must_change_password:
            match = resolve(request.path_info)
            if match.url_name not in self.ALLOWED and not request.path_info.startswith(settings.STATIC_URL):
                if request.path_info.startswith("/api/"):
                    return JsonResponse({"detail": _("Change your initial password first.")}, status=403)
                return redirect("password_change")
        return self.get_response(request)


class SecondFactorRequiredMiddleware:
    """A user in a role that requires a second factor (settings.OTP_REQUIRED_ROLES) and has not passed it in
    this session can only enrol or verify. API tokens are credentials of their own and are not affected."""

    ALLOWED = ("otp_setup", "otp_verify", "logout", "login", "set_language", "password_change",
               "password_change_done", "healthz", "readyz", "admin:logout")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.http import JsonResponse
        from django.shortcuts import redirect
        from django.urls import Resolver404, resolve, reverse
        from django.utils.http import urlencode
        from django.utils.translation import gettext as _

        from .second_factor import has_device, required_for

        user = getattr(request, "user", None)
        if (user is None or not settings.OTP_REQUIRED_ROLES or request.path_info.startswith(settings.STATIC_URL)
                or not user.is_authenticated or user.is_verified() or not required_for(user)):
            return self.get_response(request)
        try:
            name = resolve(request.path_info).view_name
        except Resolver404:
            return self.get_response(request)
        if name in self.ALLOWED:
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": _("Sign in with your second factor first.")}, status=403)
        target = "otp_verify" if has_device(user) else "otp_setup"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


class DatabaseUnavailableMiddleware:
    """A lost database connection becomes a plain 503 with Retry-After, never a stack trace. Nothing is half
    written (every write is one transaction), and a report retried with the same client_uuid yields one case."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        import logging

        from django.db import InterfaceError, OperationalError
        from django.http import JsonResponse
        from django.utils.translation import gettext as _

        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logging.getLogger("citygrid.database").error("database unavailable: %s", exception)
        message = _("The database is unavailable; nothing was saved. Try again shortly (same client_uuid).")
        if request.path_info.startswith("/open311/"):
            response = JsonResponse([{"code": 503, "description": message}], status=503, safe=False)
        elif request.path_info.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = "5"
        return response


class NoStoreMiddleware:
    """Nothing the application answers is kept by a browser's or a proxy's cache unless the view says so:
    cases, reporters' contact details, photos and the audit trail must not outlive the session on a shared
    command-centre machine. (Static files are answered before this, by WhiteNoise, and cache for a year.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response
