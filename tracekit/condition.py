"""Conditions over table columns, parsed with ``grammars/condition.lark`` into polars expressions.

Profiles (``when``) and rules (``condition``) are data; their conditions are parsed, never
evaluated as code. A column name with dots (``entry.exporter_priv``) is the flattened column
``entry_exporter_priv``; the caller chooses the naming via ``resolve``.

>>> import polars as pl
>>> df = pl.DataFrame({"ret": [0, -22, None], "obj": [1, 2, 0]})
>>> df.filter(compile_condition("ret == 0 or obj == 0")).height
2
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import polars as pl
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput

from tracekit.errors import GrammarError
from tracekit.resources import grammar_path


@cache
def _parser() -> Lark:
    return Lark.open(str(grammar_path("condition.lark")), parser="lalr", maybe_placeholders=False)


def columns_of(text: str) -> set[str]:
    """The (dotted) column names a condition mentions.

    >>> sorted(columns_of("obj != 0 and obj != entry.exporter_priv"))
    ['entry.exporter_priv', 'obj']
    """
    return set(_columns(text))


@cache
def _columns(text: str) -> frozenset[str]:
    # conditions are few and asked about for every capture: parse each once per process
    tree = _parse(text)
    return frozenset(
        ".".join(str(t) for t in sub.children)
        for sub in tree.iter_subtrees()
        if sub.data == "column"
    )


def _parse(text: str) -> Any:
    try:
        return _parser().parse(text)
    except UnexpectedInput as exc:
        col = getattr(exc, "column", 0)
        raise GrammarError(
            f"bad condition {text!r} at column {col}:\n{exc.get_context(text)}"
        ) from None


def _flat(name: str) -> str:
    return name.replace(".", "_")


class _Compile(Transformer[Token, pl.Expr]):
    def __init__(self, resolve: Callable[[str], pl.Expr]) -> None:
        super().__init__()
        self.resolve = resolve

    def column(self, items: list[Token]) -> pl.Expr:
        return self.resolve(".".join(str(t) for t in items))

    def NUMBER(self, tok: Token) -> pl.Expr:
        value = int(str(tok), 0)
        # kernel pointers (0xffff...) do not fit an Int64
        return pl.lit(value, dtype=pl.UInt64 if value >= 1 << 63 else pl.Int64)

    def STRING(self, tok: Token) -> pl.Expr:
        return pl.lit(str(tok)[1:-1])

    def null(self, _items: list[object]) -> pl.Expr:
        return pl.lit(None)

    @v_args(inline=True)
    def comparison(self, left: pl.Expr, op: Token, right: pl.Expr) -> pl.Expr:
        ops = {
            "==": left.eq,
            "!=": left.ne,
            "<": left.lt,
            ">": left.gt,
            "<=": left.le,
            ">=": left.ge,
        }
        return ops[str(op)](right)

    @v_args(inline=True)
    def is_null(self, col: pl.Expr) -> pl.Expr:
        return col.is_null()

    @v_args(inline=True)
    def is_not_null(self, col: pl.Expr) -> pl.Expr:
        return col.is_not_null()

    def is_in(self, items: list[pl.Expr]) -> pl.Expr:
        col, *values = items
        expr = pl.lit(False)
        for v in values:
            expr = expr | col.eq(v)
        return expr

    @v_args(inline=True)
    def truthy(self, col: pl.Expr) -> pl.Expr:
        return col.cast(pl.Boolean)

    @v_args(inline=True)
    def not_(self, e: pl.Expr) -> pl.Expr:
        return ~e

    def and_(self, items: list[pl.Expr]) -> pl.Expr:
        out = items[0]
        for e in items[1:]:
            out = out & e
        return out

    def or_(self, items: list[pl.Expr]) -> pl.Expr:
        out = items[0]
        for e in items[1:]:
            out = out | e
        return out


def compile_condition(text: str, resolve: Callable[[str], pl.Expr] | None = None) -> pl.Expr:
    """``text`` as a boolean polars expression; null comparisons count as false."""
    tree = _parse(text)
    expr = _Compile(resolve or (lambda name: pl.col(_flat(name)))).transform(tree)
    return expr.fill_null(False)
