"""Results tables under reports/: the same table as CSV and as markdown, with the
command that made it, written atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .storage import atomic_write


def write_table(path: str | Path, table: pd.DataFrame, title: str, intro: str,
                floatfmt: str, columns: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Write `table` to `<path>.csv` and, under `# title` and `intro`, to `<path>.md`.

    Args:
        columns: names to show in the markdown only (the CSV keeps the table's own).

    Returns:
        The markdown and CSV paths.
    """
    path = Path(path)
    markdown, csv = path.with_suffix(".md"), path.with_suffix(".csv")
    with atomic_write(csv, "w") as file:
        table.to_csv(file, index=False)
    shown = table.rename(columns=columns) if columns else table
    with atomic_write(markdown, "w") as file:
        file.write(f"# {title}\n\n{intro}\n\n{shown.to_markdown(index=False, floatfmt=floatfmt)}\n")
    return markdown, csv
