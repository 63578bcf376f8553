"""The database-URL precedence shared by admin, cloacina-server and cloacina-compiler."""

from __future__ import annotations

from cloacinactl.config import pick_database_url


def test_flag_wins_over_the_environment() -> None:
    env = {"DATABASE_URL": "sqlite:///env.db"}
    assert pick_database_url("sqlite:///flag.db", env) == "sqlite:///flag.db"


def test_environment_when_no_flag() -> None:
    assert pick_database_url(None, {"DATABASE_URL": " sqlite:///env.db "}) == "sqlite:///env.db"


def test_blank_values_count_as_unset() -> None:
    assert pick_database_url("  ", {"DATABASE_URL": "sqlite:///env.db"}) == "sqlite:///env.db"
    assert pick_database_url("", {"DATABASE_URL": "   "}) is None
    assert pick_database_url(None, {}) is None
