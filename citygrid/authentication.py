from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .models import ApiToken, hash_token
from .roles import remember_roles

# Every API request comes through here: the token, its user and the user's roles in one statement.
_SQL = """
SELECT u.*, t.id AS token_id, t.name AS token_name, t.expires_at AS token_expires_at,
       t.revoked_at AS token_revoked_at, t.last_used_at AS token_last_used_at,
       ARRAY(SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id
             WHERE ug.user_id = u.id) AS group_names
FROM citygrid_apitoken t JOIN auth_user u ON u.id = t.user_id
WHERE t.key_hash = %s
"""


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` checked against the stored hash, expiry and revocation."""

    def authenticate_credentials(self, key: str):
        found = list(get_user_model().objects.raw(_SQL, [hash_token(key)]))
        if not found:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        user = found[0]
        token = ApiToken(id=user.token_id, user_id=user.pk, name=user.token_name, expires_at=user.token_expires_at,
                         revoked_at=user.token_revoked_at, last_used_at=user.token_last_used_at)
        if not token.is_usable:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        remember_roles(user, user.group_names)
        # At most one write a minute per token: last use is for reviewing tokens, not a hot-path counter.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token
