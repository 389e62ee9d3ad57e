"""Django's PostgreSQL backend for the web process' connection pool, with a pooled connection
tested before a loan only when the server has said something on it.

psycopg_pool's own check (what CONN_HEALTH_CHECKS turns on under a pool) sends an empty query on
every loan: a round trip per request that, measured with sessions.bench_upload, cost the upload
about 0.3 ms of CPU (web process and PostgreSQL) for nothing in the normal case. An idle
connection in autocommit has nothing to read; when PostgreSQL restarts or ends a backend it sends
a FATAL error and closes the socket, which makes the socket readable. So a connection that is
closed, broken or readable gets psycopg_pool's check, and if that fails it goes back (the pool
discards a broken connection and opens a new one) and the next is tried; the others are lent as
they are. A connection that died without a word (a pulled cable) fails its query instead, as it
would right after a passing check."""

from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def server_spoke(connection: psycopg.Connection) -> bool:
    """True if the connection is closed or has input waiting (an idle one has none)."""
    if connection.closed or connection.broken:
        return True
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict) -> psycopg.Connection:
        pool = self.pool
        if pool is None:
            return super().get_new_connection(conn_params)
        # Every connection the pool holds may be dead at once (after a restart): try past them all.
        for _attempt in range(pool.max_size):
            connection = super().get_new_connection(conn_params)
            if not server_spoke(connection):
                return connection
            try:
                ConnectionPool.check_connection(connection)
            except psycopg.Error:
                pool.putconn(connection)
            else:
                return connection
        return super().get_new_connection(conn_params)
