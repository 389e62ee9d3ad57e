"""A throwaway PostgreSQL database for a benchmark: created on DATABASE_URL's server, migrated, and
dropped again, so `make bench` runs on a machine whose `mimik` database does not exist yet."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import environ
import psycopg
from psycopg import sql


def server_of(database_url: str) -> dict[str, Any]:
    config = environ.Env.db_url_config(database_url)
    if "postgresql" not in config["ENGINE"]:
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    return {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or "postgres",
        "password": config.get("PASSWORD") or None,
    }


def _admin(server: dict[str, Any], statement: sql.Composable) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
        connection.execute(statement)


@contextmanager
def throwaway_database(name: str) -> Iterator[None]:
    """DATABASE_URL points at a new database `name` on the same server while the block runs (set
    before Django is set up); BENCH_KEEP=1 keeps it afterwards, to look at query plans."""
    server = server_of(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    _admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _admin(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    password = f":{server['password']}" if server["password"] else ""
    os.environ["DATABASE_URL"] = f"postgres://{server['user']}{password}@{server['host']}:{server['port']}/{name}"
    try:
        yield
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            from django.db import connections

            connections.close_all()
            _admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
