from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django_ratelimit.decorators import ratelimit

from .models import StaffProfile


class PasswordChange(auth_views.PasswordChangeView):
    """Changing one's password also clears the 'must change' mark of an initial or demo password."""

    def form_valid(self, form):
        response = super().form_valid(form)
        StaffProfile.objects.filter(user=self.request.user).update(must_change_password=False)
        return response


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Too many requests: 429, in JSON for the API, as a page otherwise."""
    from .audit import record

    record("rate_limited", request=request, target=request.path[:200], result="denied")
    message = _("Too many requests; wait a minute and try again.")
    if request.path.startswith("/open311/"):
        return JsonResponse([{"code": 429, "description": message}], status=429, safe=False)
    return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")


@method_decorator(ratelimit(key="ip", rate=lambda group, request: settings.LOGIN_RATE, method="POST",
                            block=True), name="post")
class Login(auth_views.LoginView):
    """The login page, with attempts per address limited (failures per account: django-axes)."""
