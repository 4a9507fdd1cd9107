import unicodedata
from typing import Any, TypedDict

import marshmallow as ma

from ..schemas import Length, RequestSchema, Text, Timestamp


def normalize_email(address: str) -> str:
    """The one spelling of an address that registration stores and login looks up.

    Look-alikes are one account: the local part is NFKC-normalised and case-folded
    (full-width letters, "STRASSE" and "straße"), the domain IDNA-normalised ("bücher.de" and
    "xn--bcher-kva.de"). Raise ValueError for a domain IDNA refuses.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at:
        raise ValueError("An email address must contain an @.")
    local = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", local).casefold())
    try:
        domain = domain.encode("idna").decode("idna").lower()
    except UnicodeError as exc:
        raise ValueError("The domain of the email address is not a valid domain name.") from exc
    return f"{local}@{domain}"


class EmailAddress(ma.fields.Email):
    """An email address in the one spelling normalize_email gives it."""

    default_error_messages = {"invalid": "value is not a valid email address"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return normalize_email(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from exc


class UserCreate(TypedDict):
    email: str
    password: str
    full_name: str | None


class UserCreateSchema(RequestSchema):
    email = EmailAddress(required=True, validate=Length(max=254))
    password = Text(required=True, validate=Length(8, 128))
    full_name = Text(load_default=None, validate=Length(max=255))


class UserReadSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    email = ma.fields.String(required=True)
    full_name = ma.fields.String(required=True, allow_none=True)
    is_active = ma.fields.Boolean(required=True)
    created_at = Timestamp(required=True)


class LoginForm(TypedDict):
    username: str
    password: str


class LoginFormSchema(RequestSchema):
    """The OAuth2 password grant (RFC 6749, 4.3.2): the email goes in `username`.

    The grant's other fields (grant_type, scope, client_id) are accepted and ignored.
    """

    username = Text(required=True, metadata={"description": "The account's email address."})
    password = Text(required=True)


class TokenSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    token_type = ma.fields.Constant("bearer", required=True)
    expires_in = ma.fields.Integer(
        required=True, metadata={"description": "Seconds until the token expires."}
    )
