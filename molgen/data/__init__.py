"""Reading and writing molecule files: streaming readers with reject reports, atomic writers."""

from molgen.data.readers import (
    MoleculeSet,
    ReadReport,
    Record,
    RecordReader,
    detect_format,
    iter_records,
    parse_record,
    read_smiles,
)
from molgen.data.writers import TableWriter, export_table, write_sdf, write_table

__all__ = [
    "MoleculeSet", "ReadReport", "Record", "RecordReader", "TableWriter", "detect_format", "export_table",
    "iter_records", "parse_record", "read_smiles", "write_sdf", "write_table",
]
