"""Schema pieces shared by every feature."""


def reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, so no database gets one: a 422, not a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value
