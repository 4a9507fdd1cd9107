from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from ..schemas import reject_nul

Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(str.lower)]
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
