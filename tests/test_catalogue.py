"""The table catalogue (sql/<table>/) holds each table's whole story, and what it declares is
what its SQL does: depends_on is what rollup.sql reads, user_keys are real user columns, the
shared meanings are written once."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from functions.catalogue import rollup_order, tables, user_tables
from functions.sqlfiles import SQL_DIR, fragment


def tables_read(sql: str) -> set[str]:
    names: set[str] = set()
    for statement in sqlglot.parse(sql, read="bigquery"):
        if statement is None:
            continue
        ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
        names |= {t.name for t in statement.find_all(exp.Table) if t.name not in ctes}
    return names


def test_depends_on_lists_exactly_the_tables_each_rollup_reads() -> None:
    for name, entry in tables().items():
        if entry.rollup_sql is None:
            assert entry.depends_on == (), name
            continue
        assert set(entry.depends_on) == tables_read(entry.rollup_sql) - {name}, name


def test_the_rollup_order_puts_every_table_after_what_it_reads() -> None:
    order = rollup_order()
    assert set(order) == {n for n, t in tables().items() if t.rollup_sql is not None}
    for position, name in enumerate(order):
        for dependency in tables()[name].depends_on:
            if tables()[dependency].rollup_sql is not None:
                assert order.index(dependency) < position, (dependency, name)


def test_every_table_folder_has_its_table_and_metadata_and_nothing_else() -> None:
    for name in tables():
        files = {path.name for path in (SQL_DIR / name).iterdir()}
        assert (
            {"table.sql", "metadata.yaml"} <= files <= {"table.sql", "metadata.yaml", "rollup.sql"}
        )


def test_rollup_tables_and_state_have_a_rollup_and_raw_tables_and_logs_do_not() -> None:
    for name, entry in tables().items():
        has_rollup = entry.rollup_sql is not None
        assert has_rollup == (entry.kind in ("rollup", "state")), name


def test_user_keys_are_the_columns_naming_users_and_each_has_an_erasure_statement() -> None:
    assert set(user_tables()) == {
        "events",
        "bad_events",
        "user_first_seen",
        "user_lifecycle",
        "user_milestones",
        "user_days",
    }
    for name in user_tables():
        assert (SQL_DIR / "gdpr" / f"delete_{name}.sql").is_file(), name
    for name, entry in tables().items():
        named = {c.name for c in entry.columns} & {"user_id", "anonymous_id"}
        assert named <= set(entry.user_keys), name
    assert user_tables()[:2] == ("bad_events", "events")  # raw tables first


def test_shared_meanings_are_written_once() -> None:
    spelled = {
        "first_copy": fragment("first_copy"),
        "is_error": fragment("is_error"),
        "user_key": fragment("user_key"),
        "is_signup": fragment("is_signup"),
        "is_payment": fragment("is_payment"),
        "day_milestones": fragment("day_milestones"),
    }
    for path in SQL_DIR.rglob("*.sql"):
        if path.parent.name == "shared":
            continue
        code = "\n".join(
            line.split("--")[0] for line in path.read_text(encoding="utf-8").splitlines()
        )
        for name, text in spelled.items():
            assert text not in code, f"{path}: write {{{{ {name} }}}} instead"
        assert "PARTITION BY event_id" not in code, path
        assert "success = FALSE" not in code and "success IS FALSE" not in code, path


def test_every_fragment_used_exists_and_expands() -> None:
    for entry in tables().values():
        if entry.rollup_sql is not None:
            assert "{{" not in entry.rollup_sql, entry.name
