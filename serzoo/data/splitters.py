"""The built-in cross-validation protocols: ``logo``, ``kfold``, ``fixed`` and ``loco``.

A core plugin (listed in ``CORE_PLUGINS`` of the plugin manager): the default
run needs ``logo``, so these are registered by the core itself and cannot be
disabled. Each only chooses what its folds test; :func:`serzoo.data.splits.make_splits`
builds the training and validation parts the same way for every protocol.
"""

from __future__ import annotations

import numpy as np

from serzoo import hookimpl
from serzoo.core.errors import ConfigError
from serzoo.core.registry import Param, Splitter
from serzoo.data.splits import Fold, SplitContext

KFOLD_BY = ("auto", "groups", "rows")


def _leave_one_out(ctx: SplitContext) -> list[Fold]:
    """Each testable group (or each of --test-groups) is the test set once."""
    if ctx.n_groups < 2:
        raise ConfigError(f"protocol {ctx.protocol} (leave one group out) needs at least 2 groups; the grouping "
                          f"{ctx.grouping.name!r} has {ctx.n_groups}: use --protocol kfold or another --group-by")
    return [Fold([g]) for g in (ctx.test_groups or ctx.testable())]


def _kfold(ctx: SplitContext, folds: int = 5, by: str = "auto") -> list[Fold]:
    """k random folds of whole groups (speaker-independent), or of rows without groups."""
    if by not in KFOLD_BY:
        raise ConfigError(f"kfold by {by!r}: choose {', '.join(KFOLD_BY)}")
    if ctx.test_groups:
        raise ConfigError("protocol kfold chooses its own test folds; drop --test-groups or use --protocol fixed")
    by_groups = by == "groups" or (by == "auto" and ctx.n_groups > 0)
    if by_groups and ctx.n_groups == 0:
        raise ConfigError("k-fold over groups needs groups (start_indice/end_indice or --group-by); use rows")
    if folds < 2:
        raise ConfigError(f"k-fold needs at least 2 folds, got {folds}")
    rng = ctx.rng()
    if by_groups:
        pool = ctx.pool()
        if len(pool) < folds:
            raise ConfigError(f"{folds}-fold over groups needs at least {folds} groups, {len(pool)} are available; "
                              "use fewer folds or k-fold over rows")
        return [Fold(sorted(int(g) for g in unit)) for unit in np.array_split(rng.permutation(pool), folds)]
    rows = ctx.pool_rows()
    if len(rows) < folds:
        raise ConfigError(f"{folds}-fold needs at least {folds} rows, {len(rows)} are available")
    return [Fold(test_rows=unit) for unit in np.array_split(rng.permutation(rows), folds)]


def _fixed(ctx: SplitContext) -> list[Fold]:
    """One fold whose test set is --test-groups."""
    if not ctx.test_groups:
        raise ConfigError("protocol fixed needs --test-groups (for example --test-groups 0:1)")
    return [Fold(list(ctx.test_groups))]


def _names(ctx: SplitContext, groups) -> str:
    return ",".join(ctx.grouping.names[g] for g in groups)


def _logo_summary(ctx: SplitContext, options) -> str:
    name = ctx.grouping.name
    return f"leave-one-group-out by {name} ({name}-independent)"


def _kfold_summary(ctx: SplitContext, options) -> str:
    by_groups = options["by"] == "groups" or (options["by"] == "auto" and ctx.n_groups > 0)
    return f"{options['folds']}-fold " + (f"by whole {ctx.grouping.name} groups" if by_groups else "by rows")


@hookimpl
def serzoo_register_splitters(register):
    register(Splitter(
        name="logo",
        description="leave one group out: each group (speaker) is the test set once, or each of --test-groups",
        factory=_leave_one_out,
        summary=_logo_summary,
    ))
    register(Splitter(
        name="kfold",
        description="k random folds of whole groups (speaker-independent), or of rows when there are no groups",
        factory=_kfold,
        params=(
            Param("folds", "int", 5, "number of folds (--folds)"),
            Param("by", "choice", "auto", "fold whole groups or rows; auto: groups when there are any",
                  choices=KFOLD_BY),
        ),
        summary=_kfold_summary,
    ))
    register(Splitter(
        name="fixed",
        description="one split whose test set is --test-groups",
        factory=_fixed,
        summary=lambda ctx, options: (f"fixed split by {ctx.grouping.name}, test groups "
                                      f"{','.join(map(str, ctx.test_groups))} ({_names(ctx, ctx.test_groups)})"),
    ))
    register(Splitter(
        name="loco",
        description="leave one corpus out: each corpus of an aggregated database is the test set once",
        factory=_leave_one_out,
        grouping="corpus",
        summary=lambda ctx, options: f"leave-one-corpus-out ({ctx.n_groups} corpora, cross-corpus)",
    ))
