from django.contrib.auth import views as auth_views

from .models import StaffProfile


class PasswordChange(auth_views.PasswordChangeView):
    """Changing one's password also clears the 'must change' mark of an initial or demo password."""

    def form_valid(self, form):
        response = super().form_valid(form)
        StaffProfile.objects.filter(user=self.request.user).update(must_change_password=False)
        return response
