"""Ledger checks per statement instead of per row (PostgreSQL).

0001 checked journal postings row by row: a deferred constraint trigger ran one plpgsql call and
one query per posting at commit, and two foreign keys ran one lookup (and one row lock) each per
posting.  Here one AFTER INSERT ... FOR EACH STATEMENT trigger on journal_postings reads the
statement's new rows from a transition table and, in one query, refuses the statement if

- a posting names an account that is not in the chart (what the foreign key to accounts did);
- a posting names an entry that does not exist (what the foreign key to journal_entries did) or
  that was not created by the current transaction, so a posting can never be added to a
  committed entry, even a balanced one;
- an entry it touches does not sum to zero per currency over all its postings.

The balance is now checked when the statement ends instead of at commit, so all postings of an
entry must be written by one statement (the repository writes all postings of an append with one
COPY).  The two foreign keys are dropped: the trigger checks the posting side, journal entries
already refuse UPDATE, DELETE and TRUNCATE, and chart codes become permanent (accounts refuse
DELETE, TRUNCATE and a changed code), so a known account or entry can never become unknown.

SQLite keeps its foreign keys, and balance stays enforced in code there.

Attestations: journal_entries gains attests_kind, attests_ref and attests_sha256 (NULL for money
entries), indexed by document where present.  An attestation entry records a document's content
hash (a signed loan contract) in the hashed body and has no postings; on PostgreSQL a CHECK keeps
the three columns whole and well formed and the statement trigger refuses postings on such an
entry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The foreign keys of 0001 that the statement trigger checks instead, on PostgreSQL.
POSTING_FOREIGN_KEYS = {
    "fk_journal_postings_account_accounts": ("account", "accounts", "code"),
    "fk_journal_postings_entry_seq_journal_entries": ("entry_seq", "journal_entries", "seq"),
}

# Whether the current transaction created an entry row.  age(xmin) is the signed 32-bit distance
# from the current transaction's id to the id that inserted the row: 0 for the current transaction
# itself (every entry of a plain append), > 0 for an older transaction (so a committed entry),
# < 0 for a later one, which is either a subtransaction of ours (a savepoint) or a transaction
# that started after ours and has committed (another session's uncommitted entry is invisible
# here and never reaches the join).  For those, the full 64-bit id is rebuilt from ours and
# pg_xact_status() tells them apart: 'in progress' is only ever ours.  xmin has 32 bits, so an
# entry committed over 2^31 transactions ago reads as "later"; its rebuilt id then names a newer
# transaction (committed: refused; in the future: pg_xact_status raises, which refuses the
# statement too) and passes only if that exact id happens to be one of ours.
PG_STATEMENT_CHECK = """
CREATE FUNCTION puhui_postings_checked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    WITH touched AS (
        SELECT array_agg(DISTINCT entry_seq) AS seqs,
               pg_current_xact_id()::text::bigint AS own_xid
          FROM new_postings)
    SELECT problem.* INTO bad FROM (
        SELECT 1 AS kind, NULL::bigint AS entry_seq, used.account::text AS detail,
               NULL::numeric AS net
          FROM (SELECT DISTINCT account FROM new_postings) used
         WHERE NOT EXISTS (SELECT FROM accounts WHERE code = used.account)
        UNION ALL
        SELECT CASE WHEN je.seq IS NULL THEN 2 WHEN je.attests_kind IS NOT NULL THEN 5
                    ELSE 3 END, s.entry_seq, NULL, NULL
          FROM unnest((SELECT seqs FROM touched)) AS s(entry_seq)
          LEFT JOIN journal_entries je ON je.seq = s.entry_seq
         WHERE je.seq IS NULL OR je.attests_kind IS NOT NULL
            OR CASE WHEN age(je.xmin) = 0 THEN false
                    WHEN age(je.xmin) > 0 THEN true
                    ELSE pg_xact_status(((SELECT own_xid FROM touched) - age(je.xmin))::text::xid8)
                         IS DISTINCT FROM 'in progress' END
        UNION ALL
        SELECT 4, p.entry_seq, p.currency, sum(p.amount)
          FROM journal_postings p
         WHERE p.entry_seq = ANY ((SELECT seqs FROM touched)::bigint[])
         GROUP BY p.entry_seq, p.currency
        HAVING sum(p.amount) <> 0
    ) problem LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF bad.kind = 1 THEN
        RAISE EXCEPTION 'account % is not in the chart of accounts: postings refused', bad.detail
            USING ERRCODE = 'foreign_key_violation';
    ELSIF bad.kind = 2 THEN
        RAISE EXCEPTION 'journal entry % does not exist: postings refused', bad.entry_seq
            USING ERRCODE = 'foreign_key_violation';
    ELSIF bad.kind = 3 THEN
        RAISE EXCEPTION 'journal entry % was not created by this transaction: postings refused',
            bad.entry_seq USING ERRCODE = 'restrict_violation';
    ELSIF bad.kind = 5 THEN
        RAISE EXCEPTION 'journal entry % is an attestation and moves no money: postings refused',
            bad.entry_seq USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'journal entry % does not balance: % % off', bad.entry_seq, bad.net,
        bad.detail USING ERRCODE = 'check_violation';
END $$
"""

PG_CHART_PERMANENT = """
CREATE FUNCTION puhui_chart_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'chart codes are permanent (postings refer to them): % on accounts refused',
        TG_OP USING ERRCODE = 'restrict_violation';
END $$
"""

PG_TRIGGERS = [
    "CREATE TRIGGER journal_postings_checked AFTER INSERT ON journal_postings "
    "REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT "
    "EXECUTE FUNCTION puhui_postings_checked()",
    "CREATE TRIGGER accounts_permanent BEFORE DELETE OR TRUNCATE ON accounts "
    "FOR EACH STATEMENT EXECUTE FUNCTION puhui_chart_permanent()",
    "CREATE TRIGGER accounts_code_unchanged BEFORE UPDATE ON accounts FOR EACH ROW "
    "WHEN (OLD.code IS DISTINCT FROM NEW.code) EXECUTE FUNCTION puhui_chart_permanent()",
]

# 0001's per-row check, restored by the downgrade.
PG_ROW_CHECK = """
CREATE FUNCTION puhui_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    off record;
BEGIN
    SELECT currency, sum(amount) AS net INTO off
      FROM journal_postings WHERE entry_seq = NEW.entry_seq
     GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: % % off', NEW.entry_seq,
            off.net, off.currency USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
"""


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


ATTESTS_WHOLE = ("(attests_kind IS NULL) = (attests_ref IS NULL) "
                 "AND (attests_kind IS NULL) = (attests_sha256 IS NULL) "
                 "AND (attests_sha256 IS NULL OR attests_sha256 ~ '^[0-9a-f]{64}$')")


def upgrade() -> None:
    op.add_column("journal_entries", sa.Column("attests_kind", sa.String(64), nullable=True))
    op.add_column("journal_entries", sa.Column("attests_ref", sa.String(200), nullable=True))
    op.add_column("journal_entries", sa.Column("attests_sha256", sa.CHAR(64), nullable=True))
    # partial: money entries (almost all of them) add nothing to it
    op.create_index(op.f("ix_journal_entries_attests"), "journal_entries",
                    ["attests_kind", "attests_ref"],
                    sqlite_where=sa.text("attests_kind IS NOT NULL"),
                    postgresql_where=sa.text("attests_kind IS NOT NULL"))
    if not _postgres():
        return
    op.create_check_constraint(op.f("ck_journal_entries_attests_whole"), "journal_entries",
                               ATTESTS_WHOLE)
    op.execute("DROP TRIGGER journal_postings_balanced ON journal_postings")
    op.execute("DROP FUNCTION puhui_entry_balanced()")
    for name in POSTING_FOREIGN_KEYS:
        op.drop_constraint(op.f(name), "journal_postings", type_="foreignkey")
    op.execute(PG_STATEMENT_CHECK)
    op.execute(PG_CHART_PERMANENT)
    for ddl in PG_TRIGGERS:
        op.execute(ddl)


def downgrade() -> None:
    if _postgres():
        _restore_row_checks()
        op.drop_constraint(op.f("ck_journal_entries_attests_whole"), "journal_entries",
                           type_="check")
    op.drop_index(op.f("ix_journal_entries_attests"), "journal_entries")
    for column in ("attests_sha256", "attests_ref", "attests_kind"):
        op.drop_column("journal_entries", column)  # native DROP COLUMN: SQLite keeps its triggers


def _restore_row_checks() -> None:
    op.execute("DROP TRIGGER accounts_code_unchanged ON accounts")
    op.execute("DROP TRIGGER accounts_permanent ON accounts")
    op.execute("DROP TRIGGER journal_postings_checked ON journal_postings")
    op.execute("DROP FUNCTION puhui_chart_permanent()")
    op.execute("DROP FUNCTION puhui_postings_checked()")
    for name, (column, table, target) in POSTING_FOREIGN_KEYS.items():
        op.create_foreign_key(op.f(name), "journal_postings", table, [column], [target])
    op.execute(PG_ROW_CHECK)
    op.execute("CREATE CONSTRAINT TRIGGER journal_postings_balanced "
               "AFTER INSERT ON journal_postings DEFERRABLE INITIALLY DEFERRED "
               "FOR EACH ROW EXECUTE FUNCTION puhui_entry_balanced()")
