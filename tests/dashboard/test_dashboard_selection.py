"""The selection of a molecule browser: one ordered list of ids edited by cards, table rows and the detail."""

from __future__ import annotations

from molgen.dashboard import selection


def test_toggled_adds_at_the_end_and_never_twice():
    assert selection.toggled([3, 1], 2, True) == [3, 1, 2]
    assert selection.toggled([3, 1, 2], 1, True) == [3, 2, 1]
    assert selection.toggled([3, 1], 1, False) == [3]
    assert selection.toggled([], 7, False) == []


def test_table_rows_map_through_the_order_the_table_showed():
    """Row positions index the sorted, filtered table: position 0 of a table sorted best first is its
    first id, not molecule #1; rows beyond a table that shrank are ignored."""
    shown = [5, 2, 9]  # ids in the table's order (sorted by QED, say)
    assert selection.table_rows_changed([], [0, 2], shown) == ([5, 9], [])
    assert selection.table_rows_changed([5, 9], [2], shown) == ([], [5])
    assert selection.table_rows_changed([9], [1, 7], shown) == ([2], [9])


def test_edited_and_table_order():
    assert selection.edited([1, 2, 3], added=[4, 2], removed=[1]) == [2, 3, 4]
    assert selection.edited([1], added=[1], removed=[1]) == []
    assert selection.in_table_order([6, 4, 2], [2], [6, 8]) == [6, 2]
    assert selection.in_table_order([1, 2]) == []
