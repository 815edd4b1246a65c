"""Data layer: the tidy table contract (``table``), the synthetic demo (``demo``) and
the NHS England loaders (``nhs``)."""
from evallib.data.table import TIDY_COLUMNS, TidyTable, load_table, validate_table, write_table

__all__ = ["TIDY_COLUMNS", "TidyTable", "load_table", "validate_table", "write_table"]
