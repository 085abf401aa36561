import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse


@pytest.mark.django_db
def test_every_admin_page_opens(client, people):
    root = User.objects.create_superuser("root", password="Correct-horse-42")
    client.force_login(root)
    assert client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(changelist).status_code == 200, changelist
        if model_admin.has_add_permission(client.get(changelist).wsgi_request):
            add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
            assert client.get(add).status_code == 200, add


@pytest.mark.django_db
def test_a_case_opens_read_only_in_the_admin(client, people):
    from incidents import intake
    from tests.conftest import point_in

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345")).case
    client.force_login(User.objects.create_superuser("root", password="Correct-horse-42"))
    page = client.get(reverse("admin:incidents_case_change", args=[case.pk]))
    assert page.status_code == 200 and case.number in page.content.decode()
    assert client.post(reverse("admin:incidents_case_delete", args=[case.pk]), {"post": "yes"}).status_code == 403
