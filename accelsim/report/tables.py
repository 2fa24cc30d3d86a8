"""Tables that fit the terminal: numbers are never cut, a name column gives way instead.

rich fits a table wider than the console by shrinking its wrappable columns and, as a last resort, every column
evenly, so at 80 or 60 columns it cut numbers ("8,589,934,5…") and squeezed short text columns to nothing.
:func:`fitted_table` chooses the layout itself from the cells' widths, widest first:

1. every column whole, headers on one line;
2. the same with multi-word headers of the whole columns wrapped onto lines ("busy cycles" → "busy" / "cycles");
3. the ``detail`` columns (short text: an op's kind, unit, bound) moved under the name, as a dim second line of
   its cell, and the name cut by an ellipsis ("model.l…self_attn.q_proj", :func:`middle_cut`) to what is left,
   but to no fewer than :data:`NAME_MIN_WIDTH` characters.

Whole columns (numbers, shapes) are never wrapped or cut; a console narrower than the third layout needs still
gets it (rich then cuts its right edge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

NAME_MIN_WIDTH = 12  # a name column is not cut below this many characters
ELLIPSIS = "…"
TAIL_KEPT = 16  # a cut name keeps at least this much of its end ...
HEAD_MIN = 4  # ... and of its start at least this much, or none


@dataclass(frozen=True)
class Col:
    """A column of :func:`fitted_table`. ``role``: "whole" (never cut: numbers, shapes), "name" (the one column that
    shrinks), "detail" (short text moved under the name when the table is too wide)."""

    header: str
    justify: str = "left"
    role: str = "whole"


def table_width(widths: Sequence[int]) -> int:
    """Width of a rich table of the default box (a border between columns and at both edges) and padding (one
    space on each side of a cell) whose columns' contents are ``widths`` wide."""
    return sum(widths) + 3 * len(widths) + 1


def middle_cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by an ellipsis, keeping its end: an op's name ends in what tells it from
    its neighbours (the layer's number and the op: "….0.mlp.gate_proj", "…(decode)"); the first
    :data:`TAIL_KEPT` characters of the width go to the end, a third of the rest (if at least
    :data:`HEAD_MIN`) to the start ("model.l…self_attn.q_proj")."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = (width - 1 - min(width - 1, TAIL_KEPT)) // 3
    head = head if head >= HEAD_MIN else 0
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + text[len(text) - tail:]


def wrap_header(header: str, width: int) -> str:
    """``header`` with its words on lines of at most ``width`` characters (a longer word keeps its own line)."""
    lines: list[str] = []
    for word in header.split():
        if lines and cell_len(lines[-1]) + 1 + cell_len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines) or header


def _widest(header: str, cells: Sequence[str]) -> int:
    return max([cell_len(line) for line in header.split("\n")] + [cell_len(c) for c in cells])


def _wrapped(col: Col, cells: Sequence[str]) -> tuple[str, int]:
    """A whole column's header wrapped to its cells' width (or its longest word), and the column's width then."""
    inner = max([cell_len(c) for c in cells] + [cell_len(w) for w in col.header.split()] + [1])
    header = wrap_header(col.header, inner)
    return header, _widest(header, cells)


def fitted_table(title: str, cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int | None = None,
                 **table_args) -> Table:
    """A rich table of ``rows`` (text cells, one per column of ``cols``) laid out to fit ``width`` columns (None:
    any width, layout 1); see the module's docstring. ``table_args`` go to :class:`rich.table.Table`."""
    columns = [[row[i] for row in rows] for i in range(len(cols))]
    natural = [_widest(c.header, cells) for c, cells in zip(cols, columns, strict=True)]
    if width is None or table_width(natural) <= width:
        return _table(title, cols, [c.header for c in cols], rows, table_args)
    wrapped = [_wrapped(c, cells) if c.role == "whole" else (c.header, w)
               for c, cells, w in zip(cols, columns, natural, strict=True)]
    headers = [h for h, _ in wrapped]
    if table_width([w for _, w in wrapped]) <= width or not any(c.role == "name" for c in cols):
        return _table(title, cols, headers, rows, table_args)
    return _stacked(title, cols, headers, [w for _, w in wrapped], rows, width, table_args)


def _table(title: str, cols: Sequence[Col], headers: Sequence[str], rows: Sequence[Sequence[str]],
           table_args: dict) -> Table:
    table = Table(title=title, **table_args)
    for col, header in zip(cols, headers, strict=True):
        table.add_column(header, justify=col.justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    return table


def _stacked(title: str, cols: Sequence[Col], headers: Sequence[str], widths: Sequence[int],
             rows: Sequence[Sequence[str]], width: int, table_args: dict) -> Table:
    """Layout 3: the detail columns under the name, the name cut in its middle to the width left."""
    name = next(i for i, c in enumerate(cols) if c.role == "name")
    details = [i for i, c in enumerate(cols) if c.role == "detail"]
    kept = [i for i, c in enumerate(cols) if c.role != "detail"]
    name_header = cols[name].header + (f"\n{' · '.join(cols[i].header for i in details)}" if details else "")
    left = width - table_width([widths[i] for i in kept if i != name] + [0])
    unders = [" · ".join(row[i] for i in details if row[i]) for row in rows]
    natural = _widest(name_header, [row[name] for row in rows] + unders)
    name_width = max(NAME_MIN_WIDTH, min(natural, left))
    table = Table(title=title, **table_args)
    for i in kept:
        if i == name:
            table.add_column(name_header, justify=cols[i].justify, width=name_width,  # type: ignore[arg-type]
                             overflow="fold")
        else:
            table.add_column(headers[i], justify=cols[i].justify, no_wrap=True, min_width=widths[i])  # type: ignore[arg-type]
    for row, under in zip(rows, unders, strict=True):
        cell = Text(middle_cut(row[name], name_width))
        if under:
            cell.append(f"\n{under}", style="dim")
        table.add_row(*(cell if i == name else row[i] for i in kept))
    return table


__all__ = ["Col", "NAME_MIN_WIDTH", "fitted_table", "middle_cut", "table_width", "wrap_header"]
