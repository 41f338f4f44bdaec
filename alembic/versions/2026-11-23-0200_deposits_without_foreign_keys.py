"""deposits without foreign keys; banks, institutions and enrollments never deleted

A bank's batch writes a thousand deposit rows, and their three foreign keys cost one trigger
query each per row: 20 of the 33 ms PostgreSQL spent on the rows of a batch (measured,
docs/benchmarks.md). Every deposit is written by one function (service/flows/deposits.py)
in the transaction that read its bank, read its institution and locked its enrollment, so
the keys would check again what that transaction has just seen. What a key would still
guard — a referenced row later deleted — becomes impossible instead: banks, institutions
and enrollments refuse DELETE by trigger, as ledger accounts do (nothing in the service
deletes them; an institution that stops is deregistered, an enrollment refunded).

Revision ID: 9a4c2e7d5b13
Revises: 3d5e8b1c0f27
Create Date: 2026-11-23 02:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '9a4c2e7d5b13'
down_revision: str | Sequence[str] | None = '3d5e8b1c0f27'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEPT = ("banks", "institutions", "enrollments")
FOREIGN_KEYS = (
    ("fk_deposits_bank_id_banks", "banks", "bank_id"),
    ("fk_deposits_institution_id_institutions", "institutions", "institution_id"),
    ("fk_deposits_enrollment_id_enrollments", "enrollments", "enrollment_id"),
)


def upgrade() -> None:
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        for name, _, _ in FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_='foreignkey')
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION service_rows_kept() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION '% rows are never deleted: deposits name them', TG_TABLE_NAME;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in KEPT:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION service_rows_kept()"
            )
    else:
        for table in KEPT:
            op.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} rows are never deleted: deposits name them'); END"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in KEPT:
        op.execute(f"DROP TRIGGER {table}_no_delete" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION service_rows_kept()")
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        for name, table, column in FOREIGN_KEYS:
            batch_op.create_foreign_key(name, table, [column], ['id'])
