"""One call of `ledger_transfer_one` on a psycopg connection, sent at the level of libpq.

The single transfer is the commonest call in the ledger, and on two shared cores every client
microsecond is taken from PostgreSQL. So the call skips psycopg's cursor machinery (its
adapters, its prepare manager, its result rows) and speaks to libpq directly, through the
same non-blocking generators and wait function psycopg itself uses:

- the statement is prepared once per connection under a name of its own and then sent by
  name, its 13 arguments as text (the server knows their types from the function);
- in a transaction the driver has not yet begun (the caller's, or `transfer`'s own), BEGIN
  and the call travel together in one libpq pipeline: one round trip where psycopg would make
  two (BEGIN, then the call); the caller's COMMIT follows as psycopg sends it;
- with no transaction wanted (`transfer_alone`) the call goes alone, in the server's implicit
  transaction of one statement: no BEGIN, no COMMIT, one round trip.

psycopg still owns the connection: it reads the transaction's state from libpq, so it sends
no second BEGIN after ours, and commits or rolls back the transaction as usual.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import generators, pq
from psycopg._preparing import PrepareManager
from sqlalchemy.exc import DBAPIError

NAME = b"ledger_transfer_one"
SQL = (
    "SELECT written, late, ledger, seq, prev, link FROM ledger_transfer_one("
    + ", ".join(f"${n}" for n in range(1, 14))
    + ")"
)
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.PIPELINE_SYNC)
_IDLE = pq.TransactionStatus.IDLE


def _texts(params: tuple[Any, ...], encoding: str) -> list[bytes | None]:
    """The arguments as text: strings, `Decimal`s and aware datetimes (ISO 8601), or NULL."""
    return [
        None if v is None else (v.isoformat() if type(v) is datetime else str(v)).encode(encoding)
        for v in params
    ]


def _run(driver: Any) -> list[Any]:
    """Flush what was sent and read results up to the next end of a query: psycopg's own
    non-blocking generators (the C versions with psycopg[binary]) under the connection's own
    wait, which sleeps on the socket and answers an interrupt by cancelling the query."""
    results: list[Any] = driver.wait(generators.execute(driver.pgconn))
    return results


def _fetch(driver: Any) -> list[Any]:
    results: list[Any] = driver.wait(generators.fetch_many(driver.pgconn))
    return results


def _raise_first_error(results: list[Any], encoding: str) -> None:
    for r in results:
        if r.status not in _OK:
            raise pg_errors.error_from_result(r, encoding=encoding)


class _Watched(PrepareManager):
    """psycopg's own manager of a connection's prepared statements, told to note when it
    drops every one of them: it sends DEALLOCATE ALL on the rollback after any statement it
    prepared itself (`executemany` always prepares), and ours goes with the rest."""

    ledger_prepared: bool
    ledger_encoding: str

    def clear(self) -> bool:
        dropping = super().clear()
        if dropping:
            self.ledger_prepared = False
        return dropping


def _watched(driver: Any) -> _Watched:
    manager = driver._prepared
    if not isinstance(manager, _Watched):
        manager.__class__ = _Watched
        manager.ledger_prepared = False
        manager.ledger_encoding = driver.info.encoding
    return manager  # type: ignore[no-any-return]


def _prepare(driver: Any, manager: _Watched) -> None:
    driver.pgconn.send_prepare(NAME, SQL.encode(), None)
    results = _run(driver)
    already = [r for r in results if r.error_field(pq.DiagnosticField.SQLSTATE) == b"42P05"]
    if not already:
        _raise_first_error(results, manager.ledger_encoding)
    manager.ledger_prepared = True


def _send(pgconn: Any, driver: Any, values: list[bytes | None]) -> list[Any]:
    """The call, with BEGIN before it in one pipeline when the caller wants a transaction the
    driver has not begun yet; the call's results (or the first error raised)."""
    encoding = driver._prepared.ledger_encoding
    if driver.autocommit or pgconn.transaction_status != _IDLE:
        pgconn.send_query_prepared(NAME, values)
        results = _run(driver)
        _raise_first_error(results, encoding)
        return results
    begin = driver._get_tx_start_command()  # BEGIN with the connection's isolation level
    pgconn.enter_pipeline_mode()
    try:
        pgconn.send_query_params(begin, None)
        pgconn.send_query_prepared(NAME, values)
        pgconn.pipeline_sync()
        results = _run(driver)  # BEGIN's
        results += _fetch(driver)  # the call's
        results += _fetch(driver)  # the sync
    finally:
        pgconn.exit_pipeline_mode()
    _raise_first_error(results, encoding)
    return results[1:2]


def _call(pooled: Any, params: tuple[Any, ...], *, alone: bool) -> tuple[Any, ...]:
    driver = pooled.driver_connection
    manager = _watched(driver)
    encoding = manager.ledger_encoding
    values = _texts(params, encoding)
    pgconn = driver.pgconn
    begins = not alone and not driver.autocommit and pgconn.transaction_status == _IDLE
    for attempt in (1, 2):
        if not manager.ledger_prepared:
            _prepare(driver, manager)
        try:
            (res,) = _alone(driver, values, encoding) if alone else _send(pgconn, driver, values)
            break
        except pg_errors.InvalidSqlStatementName:
            # Dropped behind psycopg's back (DISCARD ALL, DEALLOCATE ALL in SQL): prepared
            # again and sent again, unless the caller's transaction was lost with it.
            manager.ledger_prepared = False
            if attempt == 2 or not (alone or begins):
                raise
            if begins:  # only our BEGIN and the failed call are undone
                pgconn.send_query(b"ROLLBACK")
                _raise_first_error(_run(driver), encoding)
    written, late, lg, seq, prev, link = (res.get_value(0, i) for i in range(6))
    return (
        written == b"t",
        late == b"t",
        lg and lg.decode(encoding),
        seq and int(seq),
        prev and prev.decode(),
        link and link.decode(),
    )


def _alone(driver: Any, values: list[bytes | None], encoding: str) -> list[Any]:
    """The call in the server's implicit transaction of one statement (the connection idle)."""
    pgconn = driver.pgconn
    if pgconn.transaction_status != _IDLE:
        raise psycopg.ProgrammingError("a transfer alone needs an idle connection")
    pgconn.send_query_prepared(NAME, values)
    results = _run(driver)
    _raise_first_error(results, encoding)
    return results


def call_single(pooled: Any, params: tuple[Any, ...], *, alone: bool = False) -> tuple[Any, ...]:
    """`ledger_transfer_one(*params)` on a pooled psycopg connection: (written, late, ledger,
    seq, prev, link). `alone`: committed by the server as a statement of its own; else in
    the caller's transaction (begun here if the driver has not begun it). Database errors
    are raised as SQLAlchemy raises every other, so retries and callers see one kind."""
    try:
        return _call(pooled, params, alone=alone)
    except psycopg.Error as exc:
        raise DBAPIError.instance(SQL, None, exc, psycopg.Error) from exc
