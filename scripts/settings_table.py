"""Print the README's configuration table from service.settings (tests check they agree)."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        machine_path = isinstance(default, Path) and default.is_absolute()  # install-specific
        shown = "—" if default is None or field.default_factory or machine_path else f"`{default}`"
        rows.append(f"| `OCR_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
