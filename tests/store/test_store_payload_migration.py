"""Revision 0013 on a book with payloads: text rows stay readable, packed rows go back to text."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone

from alembic import command
from sqlalchemy import text

from puhui.services.data import payload_values, received_bytes
from puhui.store.db import alembic_config, make_engine, migrate

OLD = '{"as_of":"2026-03-02","business_id":"B1","records":[{"a":1,"n":"é"}]}'
NEW = b'{"as_of":"2026-03-02","business_id":"B2","records":[{"a":2,"n":"\xe5\xad\x97"}]}'
ROW = ("INSERT INTO source_payloads (applicant_id, application_id, scope, consent_id, "
       "fetched_at, as_of, status, payload, payload_sha256{extra}) VALUES ('P1', 'A1', 'tax', "
       "'C1', :at, :on, 'accepted', :payload, :sha{values})")
AT, ON = datetime(2026, 3, 2, 2, tzinfo=timezone.utc), date(2026, 3, 2)


def test_text_rows_survive_the_upgrade_and_packed_rows_the_downgrade(empty_db_url) -> None:
    migrate(empty_db_url, "0012")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO applicants (applicant_id, kind, partner_id, business_name, data, "
                "created_at) VALUES ('P1', 'sme', NULL, 'x', '{}', :at)"), {"at": AT})
            conn.execute(text(ROW.format(extra="", values="")), {
                "at": AT, "on": ON, "payload": OLD,
                "sha": hashlib.sha256(OLD.encode()).hexdigest()})
        migrate(engine)
        packed = payload_values(NEW)
        with engine.begin() as conn:
            conn.execute(text(ROW.format(
                extra=", payload_codec, payload_blob, payload_bytes",
                values=", :codec, :blob, :size")), {
                "at": AT, "on": ON, "payload": None, "sha": packed["payload_sha256"],
                "codec": packed["payload_codec"], "blob": packed["payload_blob"],
                "size": packed["payload_bytes"]})
            rows = conn.execute(text("SELECT * FROM source_payloads ORDER BY id")).all()
        assert [received_bytes(r) for r in rows] == [OLD.encode(), NEW]
        assert rows[0].payload_codec is None and rows[1].payload is None

        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0012")
        with engine.connect() as conn:
            texts = conn.execute(text("SELECT payload FROM source_payloads ORDER BY id")).all()
        assert [t for (t,) in texts] == [OLD, NEW.decode()]
        migrate(engine)
    finally:
        engine.dispose()
