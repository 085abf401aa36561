from django.urls import reverse
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from . import lifecycle, scoping
from .duplicates import likely_duplicates
from .models import Case, CaseLog, Category, Photo, sla_light


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) >= 8 else ("*" * len(value))


def mask_email(value: str) -> str:
    name, _, domain = value.partition("@")
    return f"{name[:1]}***@{domain}" if domain else ""


def mask_name(value: str) -> str:
    return value[:1] + "*" * (len(value) - 1) if value else ""


class CategorySerializer(serializers.ModelSerializer):
    major = serializers.SlugRelatedField(source="parent", slug_field="code", read_only=True, allow_null=True)
    major_name = serializers.CharField(source="parent.name_zh", read_only=True, default="")
    time_limits = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = ["code", "kind", "major", "major_name", "name_zh", "name_en", "default_bureau_kind",
                  "photo_required", "time_limits"]

    def get_time_limits(self, obj) -> dict:
        return {t.urgency: f"{t.amount} {t.unit}" for t in obj.time_limits.all()}


class CaseFeatureSerializer(GeoFeatureModelSerializer):
    """A case as a GeoJSON feature for lists and maps (no personal data)."""

    category = serializers.SlugRelatedField(slug_field="code", read_only=True)
    category_name = serializers.CharField(source="category.name_zh", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    cell = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    community = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    street = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    district = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    bureau = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    bureau_name = serializers.CharField(source="bureau.name", read_only=True, default=None, allow_null=True)
    component = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    place = serializers.SerializerMethodField()  # what a person reads: names, not codes
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)
    sla = serializers.CharField(source="sla_light", read_only=True)

    class Meta:
        model = Case
        geo_field = "location"
        id_field = "number"
        fields = ["number", "status", "status_label", "category", "category_name", "urgency", "source", "address",
                  "cell", "community", "street", "district", "bureau", "deadline", "overdue", "sla", "created_at",
                  "updated_at", "version", "bureau_name", "place", "component"]

    def get_place(self, obj) -> str:
        """The district, street and community by name (雨湖区 城正街街道 和平社区)."""
        return " ".join(a.name for a in (obj.district, obj.street, obj.community) if a is not None)


class PhotoSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = ["id", "kind", "width", "height", "created_at", "url", "thumbnail_url"]

    def get_url(self, obj) -> str:
        return reverse("incidents:photo", args=[obj.pk, "image"])

    def get_thumbnail_url(self, obj) -> str:
        return reverse("incidents:photo", args=[obj.pk, "thumbnail"])


class LogSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    case = serializers.CharField(source="case.number", read_only=True)
    photos = PhotoSerializer(many=True, read_only=True)

    class Meta:
        model = CaseLog
        fields = ["case", "action", "from_status", "to_status", "actor", "note", "created_at", "photos"]

    def get_actor(self, obj) -> str | None:
        return (obj.actor.get_full_name() or obj.actor.username) if obj.actor else None


class CaseDetailSerializer(CaseFeatureSerializer):
    description = serializers.CharField(read_only=True)
    contact = serializers.SerializerMethodField()
    reporter = serializers.SerializerMethodField()
    photos = PhotoSerializer(many=True, read_only=True)
    log = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()
    merged_into = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    likely_duplicates = serializers.SerializerMethodField()
    routing = serializers.SerializerMethodField()
    stage = serializers.SerializerMethodField()

    class Meta(CaseFeatureSerializer.Meta):
        fields = [*CaseFeatureSerializer.Meta.fields, "description", "accuracy_m", "contact", "reporter",
                  "rework_count", "postponement_until", "merged_into", "closed_at", "photos", "log",
                  "allowed_actions", "likely_duplicates", "routing", "stage"]

    def _user(self):
        return self.context["request"].user

    def get_contact(self, obj) -> dict:
        if scoping.sees_contact_details(self._user()):
            return {"name": obj.contact_name, "phone": obj.contact_phone, "email": obj.contact_email}
        return {"name": mask_name(obj.contact_name), "phone": mask_phone(obj.contact_phone),
                "email": mask_email(obj.contact_email)}

    def get_reporter(self, obj) -> str | None:
        return (obj.reporter.get_full_name() or obj.reporter.username) if obj.reporter else None

    def get_log(self, obj) -> list[dict]:
        return LogSerializer(lifecycle.history(obj), many=True).data

    def get_allowed_actions(self, obj) -> list[str]:
        return lifecycle.allowed_actions(obj, self._user())

    def get_stage(self, obj) -> dict | None:
        """The stage the case is in and its deadline (registration, dispatch, processing, verification)."""
        # Stage limits belong to dispatch, which builds on cases: imported here, not at module level.
        from dispatch.stages import StageLimits

        stage, deadline = StageLimits().deadline(obj)
        return {"stage": stage, "deadline": deadline, "sla": sla_light(deadline)} if stage else None

    def get_routing(self, obj) -> dict | None:
        """Why the case was (or would be) sent to a bureau: the routing rule's explanation."""
        decision = getattr(obj, "routing", None)  # reverse one-to-one: missing raises an AttributeError
        if decision is None:
            return None
        return {"bureau": decision.bureau.code if decision.bureau else None, "explanation": decision.explanation}

    def get_likely_duplicates(self, obj) -> list[str]:
        if not obj.is_open:
            return []
        visible = scoping.visible_cases(self._user(), likely_duplicates(obj))
        return list(visible.order_by("created_at", "id").values_list("number", flat=True))
