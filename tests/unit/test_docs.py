"""The README's configuration table must list every setting with its current default."""

from __future__ import annotations

from pathlib import Path

from scripts.settings_table import table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [row for row in table().splitlines()[2:] if row not in text]
    assert not missing, "README is stale; paste `python scripts/settings_table.py`:\n" + "\n".join(
        missing
    )
