"""The second factor (TOTP, RFC 6238) for staff roles, with single-use recovery codes; django-otp keeps the
devices and verifies codes (with its own throttling of repeated failures)."""

import secrets

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .roles import user_roles

RECOVERY_CODES = 10


def required_for(user: AbstractBaseUser) -> bool:
    """Whether this user must pass a second factor (settings.OTP_REQUIRED_ROLES)."""
    return user.is_authenticated and bool(user_roles(user) & set(settings.OTP_REQUIRED_ROLES))


def has_device(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def enrolment_device(user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator being enrolled: an unconfirmed TOTP device, created on first asking."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL of the device as an SVG QR code, drawn on the server (no script, no CDN)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def confirm(device: TOTPDevice, token: str) -> bool:
    """Confirm an enrolment with a first code; any older authenticator of the user is replaced."""
    if not device.verify_token(token.strip()):
        return False
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


def new_recovery_codes(user: AbstractBaseUser, count: int = RECOVERY_CODES) -> list[str]:
    """Fresh single-use recovery codes (the old ones stop working); shown once, stored by django-otp."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name="recovery")
    device.token_set.all().delete()
    codes = [f"{secrets.token_hex(2)}-{secrets.token_hex(2)}" for _ in range(count)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def verify(user: AbstractBaseUser, token: str) -> Device | None:
    """The device a code belongs to (a six-digit TOTP code, or a recovery code, which is then used up), or
    None. Each kind is checked against its own device only, so that django-otp's throttling of failures
    slows down guessing of that kind without locking out the other."""
    token = token.strip().lower()
    model = TOTPDevice if token.isdigit() else StaticDevice
    device = model.objects.filter(user=user, confirmed=True).first()
    return device if device is not None and device.verify_token(token) else None
