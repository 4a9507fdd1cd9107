import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from ..schemas import reject_nul


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


Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(normalize_email)]
Password = Annotated[str, Field(min_length=8, max_length=128)]
FullName = Annotated[str, Field(max_length=255), AfterValidator(reject_nul)]


class UserCreate(BaseModel):
    email: Email
    password: Password
    full_name: FullName | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str | None
    is_active: bool
    created_at: datetime


class LoginForm(BaseModel):
    """The OAuth2 password grant (RFC 6749, 4.3.2): the email goes in `username`.

    The grant's other fields (grant_type, scope, client_id) are accepted and ignored.
    """

    username: str = Field(description="The account's email address.")
    password: str


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the token expires.")
