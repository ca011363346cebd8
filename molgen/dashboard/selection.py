"""The selection of a molecule browser: one list of molecule ids that the grid's Select boxes, the
table's row selection and the detail view all edit, and that "Download selection" exports.

Pure functions over ids (the table's index, ``#n``), so the pages' widget callbacks stay one line
and the rules (order, no duplicates, positions of a sorted table) are tested without Streamlit.
"""

from __future__ import annotations

from typing import Hashable, Iterable, Sequence


def toggled(selected: Sequence[Hashable], item: Hashable, on: bool) -> list[Hashable]:
    """``selected`` with ``item`` added at the end (``on``) or removed; order kept, never duplicated."""
    kept = [i for i in selected if i != item]
    return kept + [item] if on else kept


def table_rows_changed(
    before: Iterable[Hashable], after: Sequence[int], ids: Sequence[Hashable],
) -> tuple[list[Hashable], list[Hashable]]:
    """Ids added and removed when a table's row selection becomes the positions ``after``.

    ``before`` are the ids the table had selected at its last change; ``after`` indexes ``ids``, the
    rows as the table showed them (filtered and sorted), so a row picked in a table sorted by QED
    adds that molecule, not the one at the same position of the unsorted set. Positions beyond
    ``ids`` (a table that shrank) are ignored.
    """
    old = list(dict.fromkeys(before))
    new = list(dict.fromkeys(ids[p] for p in after if 0 <= p < len(ids)))
    return [i for i in new if i not in set(old)], [i for i in old if i not in set(new)]


def edited(selected: Sequence[Hashable], added: Iterable[Hashable], removed: Iterable[Hashable]) -> list[Hashable]:
    """``selected`` less ``removed`` plus ``added`` (at the end, in their order, not twice)."""
    gone = set(removed)
    out = [i for i in selected if i not in gone]
    have = set(out)
    for i in added:
        if i not in have and i not in gone:
            out.append(i)
            have.add(i)
    return out


def in_table_order(index: Iterable[Hashable], *chosen: Iterable[Hashable]) -> list[Hashable]:
    """The ids of ``index`` that are in any of ``chosen``, in the order of ``index`` (the export's order)."""
    wanted = set().union(*map(set, chosen)) if chosen else set()
    return [i for i in index if i in wanted]
