import functools

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from . import prepared
from .models import ApiToken, hash_token
from .roles import remember_roles

# Every API request comes through here: the token, its user and the user's roles in one statement, prepared on
# the connection and read with a plain cursor (a raw queryset's column matching cost as much again as the
# statement).
_SQL = """
SELECT {user_columns}, t.id, t.name, t.expires_at, t.revoked_at, t.last_used_at,
       ARRAY(SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id
             WHERE ug.user_id = u.id)
FROM citygrid_apitoken t JOIN auth_user u ON u.id = t.user_id
WHERE t.key_hash = %s
"""


@functools.cache
def _statement() -> tuple[str, list[str]]:
    fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    return _SQL.format(user_columns=", ".join(f"u.{connection.ops.quote_name(f)}" for f in fields)), fields


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` checked against the stored hash, expiry and revocation."""

    def authenticate_credentials(self, key: str):
        statement, fields = _statement()
        with connection.cursor() as cur:
            prepared.execute(cur, statement, [hash_token(key)])
            row = cur.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        n = len(fields)
        user = get_user_model().from_db(connection.alias, fields, row[:n])
        token_id, name, expires_at, revoked_at, last_used_at, group_names = row[n:]
        token = ApiToken(id=token_id, user_id=user.pk, name=name, expires_at=expires_at, revoked_at=revoked_at,
                         last_used_at=last_used_at)
        if not token.is_usable:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        remember_roles(user, group_names)
        # At most one write a minute per token: last use is for reviewing tokens, not a hot-path counter.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token
