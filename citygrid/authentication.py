from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .models import ApiToken, hash_token


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` checked against the stored hash, expiry and revocation."""

    def authenticate_credentials(self, key: str):
        # Every API request comes through here: a plain statement for the token, the ORM for the user only.
        with connection.cursor() as cur:
            cur.execute("SELECT id, user_id, name, expires_at, revoked_at, last_used_at FROM citygrid_apitoken "
                        "WHERE key_hash = %s", [hash_token(key)])
            row = cur.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        token = ApiToken(id=row[0], user_id=row[1], name=row[2], expires_at=row[3], revoked_at=row[4],
                         last_used_at=row[5])
        if not token.is_usable:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        user = get_user_model()._default_manager.filter(pk=token.user_id, is_active=True).first()
        if user is None:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # At most one write a minute per token: last use is for reviewing tokens, not a hot-path counter.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token
