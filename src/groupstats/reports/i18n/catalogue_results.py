"""Catalogue of the result objects' text: titles, table headers and conclusions that ``str(result)``,
``result.to_string(lang)``, notebooks and the CLI's plain output show (``--lang zh|en``)."""
from __future__ import annotations

ENTRIES: dict[str, dict[str, str]] = {
}
