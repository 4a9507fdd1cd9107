"""Which database errors are outages (503), and the one spelling of an email address."""

import pytest
from sqlalchemy import exc as sa_exc

from {{ cookiecutter.package_name }}.auth.schemas import normalize_email
from {{ cookiecutter.package_name }}.errors import is_database_unavailable
from {{ cookiecutter.package_name }}.security import (
    InvalidTokenError,
    create_access_token,
    decode_access_token,
)
from {{ cookiecutter.package_name }}.settings import Settings


class DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "sqlstate"),
    [
        (sa_exc.DBAPIError, "53300"),  # too many connections
        (sa_exc.InternalError, "57P01"),  # terminated by the administrator
        (sa_exc.InternalError, "57P03"),  # starting up or shutting down
        (sa_exc.DBAPIError, "08006"),  # connection failure
        (sa_exc.OperationalError, None),
        (sa_exc.InterfaceError, None),
    ],
)
def test_connection_level_errors_are_outages(
    error: type[sa_exc.DBAPIError], sqlstate: str | None
) -> None:
    assert is_database_unavailable(error("SELECT 1", {}, DriverError(sqlstate)))


@pytest.mark.parametrize(
    ("error", "sqlstate"),
    [
        (sa_exc.IntegrityError, "23505"),
        (sa_exc.DataError, "22003"),
        (sa_exc.ProgrammingError, "42P01"),
        (sa_exc.InternalError, "XX000"),
        (sa_exc.IntegrityError, "08006"),  # a data error never counts, whatever it carries
    ],
)
def test_query_and_data_errors_are_not_outages(
    error: type[sa_exc.DBAPIError], sqlstate: str
) -> None:
    assert not is_database_unavailable(error("SELECT 1", {}, DriverError(sqlstate)))


def test_invalidated_connection_is_an_outage() -> None:
    error = sa_exc.DBAPIError("SELECT 1", {}, DriverError(None), connection_invalidated=True)
    assert is_database_unavailable(error)


@pytest.mark.parametrize(
    ("spelling", "normalized"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("A\u030asa@x.io", "\u00e5sa@x.io"),
        ("STRASSE@x.io", "strasse@x.io"),
        ("stra\u00dfe@x.io", "strasse@x.io"),
        ("\uff41bc@x.io", "abc@x.io"),
        ("a@xn--bcher-kva.de", "a@b\u00fccher.de"),
        ("a@B\u00dcCHER.de", "a@b\u00fccher.de"),
    ],
)
def test_every_spelling_of_an_address_normalizes_to_one(spelling: str, normalized: str) -> None:
    assert normalize_email(spelling) == normalized


def test_an_address_without_a_usable_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="domain"):
        normalize_email("a@" + "x" * 64 + ".io")


@pytest.mark.parametrize("subject", ["\u00b2", "2147483648", "9" * 5000, "0", "-1", " 1", "1.0"])
def test_a_subject_that_is_no_user_id_is_an_invalid_token(subject: str) -> None:
    settings = Settings()
    token = create_access_token(subject, settings).token
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, settings)


def test_a_user_id_subject_is_returned() -> None:
    settings = Settings()
    assert decode_access_token(create_access_token("2147483647", settings).token, settings) == (
        "2147483647"
    )
