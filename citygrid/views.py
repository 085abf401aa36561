from base64 import b32encode

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django_otp import login as otp_login
from django_ratelimit.decorators import ratelimit

from . import second_factor
from .audit import record
from .models import StaffProfile


class PasswordChange(auth_views.PasswordChangeView):
    """Changing one's password also clears the 'must change' mark of an initial or demo password."""

    # Named apart from registration/…: the admin app, listed first, ships templates under those names.
    template_name = "frontend/password_change_form.html"

    def form_valid(self, form):
        response = super().form_valid(form)
        StaffProfile.objects.filter(user=self.request.user).update(must_change_password=False)
        return response


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Too many requests: 429, in JSON for the API, as a page otherwise."""
    record("rate_limited", request=request, target=request.path[:200], result="denied")
    message = _("Too many requests; wait a minute and try again.")
    if request.path.startswith("/open311/"):
        return JsonResponse([{"code": 429, "description": message}], status=429, safe=False)
    return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")


@method_decorator(ratelimit(key="ip", rate=lambda group, request: settings.LOGIN_RATE, method="POST",
                            block=True), name="post")
class Login(auth_views.LoginView):
    """The login page, with attempts per address limited (failures per account: django-axes)."""


class SecondFactorSetup(LoginRequiredMixin, View):
    """Enrol an authenticator app: scan the QR code, type the first code; recovery codes are shown once."""

    template_name = "registration/otp_setup.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request, second_factor.enrolment_device(request.user))

    def post(self, request: HttpRequest) -> HttpResponse:
        device = second_factor.enrolment_device(request.user)
        if not second_factor.confirm(device, request.POST.get("token", "")):
            record("otp_enrol", request=request, result="failed")
            return self._page(request, device, error=_("That code is not right; check the phone's clock and try "
                                                         "the newest code."))
        otp_login(request, device)
        codes = second_factor.new_recovery_codes(request.user)
        record("otp_enrol", request=request)
        return render(request, "registration/otp_recovery.html", {"codes": codes, "next": _next_url(request)})

    def _page(self, request: HttpRequest, device, error: str = "") -> HttpResponse:
        return render(request, self.template_name, {
            "qr": second_factor.qr_svg(device), "secret": b32encode(device.bin_key).decode(), "error": error,
            "next": _next_url(request), "replacing": second_factor.has_device(request.user)})


class SecondFactorVerify(LoginRequiredMixin, View):
    """After the password: the code from the authenticator app, or one recovery code."""

    template_name = "registration/otp_verify.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if not second_factor.has_device(request.user):
            return redirect(f"{reverse('otp_setup')}?next={_next_url(request)}")
        return render(request, self.template_name, {"next": _next_url(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        device = second_factor.verify(request.user, request.POST.get("token", ""))
        if device is None:
            record("otp_verify", request=request, result="failed")
            return render(request, self.template_name, {"next": _next_url(request),
                                                        "error": _("That code is not right.")}, status=400)
        otp_login(request, device)
        record("otp_verify", request=request, detail="recovery code" if device.name == "recovery" else "")
        return redirect(_next_url(request))


class RecoveryCodes(LoginRequiredMixin, View):
    """New recovery codes (the old ones stop working), for a user who has passed the second factor."""

    def post(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_verified():
            return redirect(f"{reverse('otp_verify')}?next={reverse('otp_recovery')}")
        codes = second_factor.new_recovery_codes(request.user)
        record("otp_recovery_codes", request=request)
        return render(request, "registration/otp_recovery.html", {"codes": codes, "next": reverse("frontend:home")})


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return wanted
    return reverse("frontend:home")


def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on any page (a JSON answer opened in a tab has no <link rel=icon>):
    the project's icon under its hashed static name (a temporary redirect: the name changes with a release)."""
    from django.http import HttpResponseRedirect
    from django.templatetags.static import static

    return HttpResponseRedirect(static("frontend/favicon.svg"))
