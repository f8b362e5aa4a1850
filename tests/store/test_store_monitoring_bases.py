"""Migration 0023 moves each monitoring state's base to `monitoring_bases` as it is: a state
stored before reads back the same after, and the head and tail stay where they were."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text

from puhui.store import monitoring_repo
from puhui.store.db import make_engine, migrate


def test_the_bases_move_to_their_own_table(empty_db_url: str) -> None:
    migrate(empty_db_url, "0022")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            for scope, blob in (("sales", b"\x01" * 50_000), ("utility", b"\x02\x03")):
                conn.execute(text(
                    "INSERT INTO monitoring_state (applicant_id, scope, business_id, as_of, "
                    "first_as_of, in_order, covers_from, records, payloads, payload_sha256, "
                    "codec, sha256, blob, tail_sha256, tail, updated_at) VALUES ('AP1', :s, "
                    "'B1', :d, :d, :t, NULL, 3, 1, :h, 'seg1+zstd', :bh, :b, NULL, NULL, :u)"),
                    {"s": scope, "d": date(2026, 12, 1), "t": True, "h": "a" * 64,
                     "bh": "b" * 64, "b": blob, "u": datetime(2026, 12, 1, 8)})
        migrate(empty_db_url)
        with engine.connect() as conn:
            rows = {r.scope: r for r in monitoring_repo.states(conn, ["AP1"])}
            heads = {r.scope: r for r in monitoring_repo.states(conn, ["AP1"], base=False)}
            columns = {c for r in conn.execute(text("SELECT * FROM monitoring_state")).keys()
                       for c in [r]}
        assert rows["sales"].blob == b"\x01" * 50_000 and rows["utility"].blob == b"\x02\x03"
        assert {r.codec for r in rows.values()} == {"seg1+zstd"}
        assert {r.sha256 for r in rows.values()} == {"b" * 64}
        assert not {"blob", "codec", "sha256"} & columns  # the head and tail alone
        assert heads["sales"].records == 3 and not hasattr(heads["sales"], "blob")
        with engine.begin() as conn:
            assert monitoring_repo.drop_states(conn, ["AP1"], ["sales"]) == 1
            assert [r.scope for r in monitoring_repo.states(conn, ["AP1"])] == ["utility"]
            left = conn.execute(text("SELECT scope FROM monitoring_bases")).scalars().all()
        assert left == ["utility"]
    finally:
        engine.dispose()
