"""Many rows through one statement, handed to the database driver as one executemany.

Executed through SQLAlchemy's Core, every row's parameters go through its per-row processing (``construct_params``,
then each value's bind processor, values the same in every row included): for the statements that write a page of
rows (a page of orders is some 100 staging headers, 350 lines and 100 bindings) that cost more than the database's
own work. So such a statement is compiled once per database kind, and each row's values are taken in the
statement's order and converted by their column type's bind processor, the very function the Core would have called
(values the same in every row, once): the rows are the same on every database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any]
# How a value of a parameter goes to the driver: given the parameter's name and type (None: as it is).
ProcessorFor = Callable[[str, TypeEngine[Any]], Processor | None]


@dataclass(frozen=True)
class DriverStatement:
    """A statement in the driver's own terms: its SQL text, its parameters in order, and the bind processor of
    each (None: the value goes as it is)."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Processor | None, ...]
    named: bool  # the driver takes a dict per row (psycopg's pyformat), else a sequence (sqlite3's qmark)

    def execute(self, db: Connection, rows: Sequence[Mapping[str, Any]], same: Mapping[str, Any]) -> None:
        """Run it for every row of ``rows`` (each with the same keys), in ``db``'s transaction; ``same``: values of
        further parameters, the same in every row (converted once)."""
        # Row by row, each row's values taken in the statement's order in one call; only the values whose
        # parameter has a processor (amounts, timestamps) are converted one by one, and ``same``'s values once.
        fixed: dict[str, Any] = {}
        to_convert: list[tuple[int, Processor]] = []
        for position, (key, process) in enumerate(zip(self.keys, self.processors, strict=True)):
            if key in same:
                fixed[key] = same[key] if process is None else process(same[key])
            elif process is not None:
                to_convert.append((position, process))
        values_of = itemgetter(*self.keys)
        parameters: list[dict[str, Any] | tuple[Any, ...]] = []
        for row in rows:
            values = list(values_of({**row, **fixed} if fixed else row))
            for position, process in to_convert:
                values[position] = process(values[position])
            parameters.append(dict(zip(self.keys, values, strict=True)) if self.named else tuple(values))
        db.exec_driver_sql(self.sql, parameters)


def driver_statement(
    statement: ClauseElement, dialect: Dialect, keys: Sequence[str], processor_for: ProcessorFor | None = None
) -> DriverStatement:
    """``statement`` compiled for ``dialect``'s driver, with the parameters ``keys`` (every parameter it has: none
    may be left to a column default). ``processor_for`` may choose a parameter's processor (default: its type's).
    Compile once and keep the result: compiling is the expensive part."""
    # for_executemany: no RETURNING of the new id (an executemany returns nothing).
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    # Every parameter comes from the rows (a column they lacked would have needed the Core to fill its default).
    assert set(compiled.binds) == set(keys), f"parameters {list(compiled.binds)}, rows with {list(keys)}"
    order = tuple(compiled.positiontup) if compiled.positiontup is not None else tuple(keys)
    # Several, as a statement writing rows has: execute() takes a row's values with one itemgetter, which returns
    # a tuple for two keys or more.
    assert len(order) > 1, "a statement of one parameter"

    def default(key: str, type_: TypeEngine[Any]) -> Processor | None:
        return type_.dialect_impl(dialect).bind_processor(dialect)

    choose = processor_for or default
    processors = tuple(choose(key, compiled.binds[key].type) for key in order)
    return DriverStatement(compiled.string, order, processors, named=compiled.positiontup is None)
