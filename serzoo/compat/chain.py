"""The original trainer's model flags as one serzoo ``--blocks`` chain with ``--opt`` values.

The original built its model from switches in a fixed order: a convolution
front end (``--conv``, ``--conv_3d``, ``--r_conv``, ...), frame-level layers
(``--f_dnn``, ``--f_highway``, ``--f_residual``), a temporal model (``--u_lstm``,
``--g_lstm``, ``--f_lstm``) and utterance-level layers (``--u_dnn``, ``--u_hw``,
``--u_residual``), each sized by shared flags (``-dnn_depth``, ``-n_filter``,
``-nn``, ``-cs``, ...). This module keeps that order and those sizes.
"""

from __future__ import annotations

from pathlib import Path

from serzoo.core.errors import ConfigError

#: the original's defaults of the size flags (src/trainer.py's argument parser)
DEFAULTS = {"nn": "128", "dnn_depth": "3", "f_dnn_depth": "2", "p_dnn_depth": "2", "cs": "256",
            "n_row": "10,5", "n_col": "40,20", "n_time": "40,20", "l_filter": "100,80", "n_filter": "40,20",
            "stride": "1", "pool": "2,2", "pool_t": "2", "pool_r": "2", "pool_c": "2"}

#: convolution switch -> its block by the database's layout
_FRONT = {
    "conv": {"1d": "cnn1d", "2d": "cnn2d"},
    "conv_3d": {"3d": "cnn3d"},
    "r_conv": {"2d": "resnet2d"},
    "r_conv_3d": {"3d": "resnet3d"},
    "f_conv_highway": {"1d": "convhw1d", "2d": "convhw2d"},
    "conv_hw_3d": {"3d": "convhw3d"},
}


def data_kind_of(path: str | None) -> str | None:
    """The file layout of an existing SER_FEAT_EXT database by the rank of ``feat``: 1d, 2d (5-D) or None."""
    if not path or not Path(path).is_file():
        return None
    import h5py

    with h5py.File(path, "r") as f:
        return "2d" if f["feat"].ndim == 5 else "1d"


def _ints(args: dict, key: str, depth: int) -> list[int]:
    """A per-layer size flag, one value per layer (a single value serves every layer)."""
    values = [int(v) for v in str(args.get(key, DEFAULTS[key])).split(",") if v.strip()]
    if len(values) == 1:
        values = values * depth
    if len(values) < depth:
        raise ConfigError(f"original flag -{key} {args.get(key, DEFAULTS[key])}: {len(values)} values for "
                          f"-dnn_depth {depth} layers")
    return values[:depth]


def _sizes(args: dict, keys: tuple[str, ...], depth: int) -> str:
    columns = [_ints(args, key, depth) for key in keys]
    return ",".join("x".join(str(c[i]) for c in columns) for i in range(depth))


def _front(args: dict, kind: str) -> tuple[list[str], list[str], list[str]]:
    """The convolution block, its options and notes."""
    chosen = [switch for switch in _FRONT if args.get(switch)]
    if not chosen:
        return [], [], []
    if len(chosen) > 1:
        raise ConfigError(f"original flags --{' and --'.join(chosen)}: the original built one convolution front end")
    switch = chosen[0]
    kind = "3d" if switch.endswith("3d") else kind
    block = _FRONT[switch].get(kind)
    if block is None:
        raise ConfigError(f"original flag --{switch} has no {kind} form; the database is {kind}")
    depth = int(args.get("dnn_depth", DEFAULTS["dnn_depth"]))
    if kind == "1d":
        kernel, pool = _sizes(args, ("l_filter",), depth), _sizes(args, ("pool",), depth)
    elif kind == "2d":
        kernel, pool = _sizes(args, ("n_row", "n_col"), depth), _sizes(args, ("pool_r", "pool_c"), depth)
    else:
        kernel = _sizes(args, ("n_time", "n_row", "n_col"), depth)
        pool = _sizes(args, ("pool_t", "pool_r", "pool_c"), depth)
    filters = _ints(args, "n_filter", depth)
    notes = []
    if block.startswith("convhw"):
        # a highway keeps its width and pools once: the first layer's filters, the layers' pools multiplied
        per_layer = [[int(v) for v in p.split("x")] for p in pool.split(",")]
        total = [1] * len(per_layer[0])
        for sizes in per_layer:
            total = [a * b for a, b in zip(total, sizes)]
        opts = [f"filters={filters[0]}", f"layers={depth}", f"kernel={kernel}", f"pool={'x'.join(map(str, total))}"]
        if len(set(filters)) > 1:
            notes.append(f"{block} keeps one width: {filters[0]} filters in every layer (the original: {filters})")
    elif block.startswith("resnet"):
        opts = [f"filters={','.join(map(str, filters))}", "units=1", f"kernel={kernel}", f"pool={pool}"]
        notes.append(f"{block}: one residual unit (two convolutions) per stage stands in for the original's "
                     "single convolutions added to the previous layer")
    else:
        opts = [f"filters={','.join(map(str, filters))}", f"kernel={kernel}", f"pool={pool}"]
        if str(args.get("stride", "1")) != "1":
            opts.append(f"strides={args['stride']}")
    return [block], [f"{block}.{o}" for o in opts], notes


def _layers(args: dict, key: str) -> str:
    return ",".join([str(args.get("nn", DEFAULTS["nn"]))] * int(args.get(key, DEFAULTS[key])))


def _frame(args: dict) -> tuple[list[str], list[str]]:
    """Frame-level layers (``--f_dnn``, ``--f_highway``, ``--f_residual``): fcn and friends."""
    nn = str(args.get("nn", DEFAULTS["nn"]))
    depth = str(args.get("f_dnn_depth", DEFAULTS["f_dnn_depth"]))
    if args.get("f_dnn"):
        return ["fcn"], [f"fcn.units={_layers(args, 'f_dnn_depth')}"]
    if args.get("f_highway"):
        return ["fcn", "highway"], [f"fcn.units={nn}", f"highway.layers={depth}"]
    if args.get("f_residual"):
        return ["fcn", "residual"], [f"fcn.units={nn}", f"residual.units={_layers(args, 'f_dnn_depth')}"]
    return [], []


def _temporal(args: dict) -> tuple[list[str], list[str]]:
    cells = ",".join([str(args.get("cs", DEFAULTS["cs"]))] * 2)
    if args.get("g_lstm"):
        return ["lstm_avg"], [f"lstm_avg.units={cells}"]
    if args.get("u_lstm") or args.get("f_lstm"):
        return ["lstm"], [f"lstm.units={cells}"]
    return [], []


def _utterance(args: dict, used: list[str]) -> tuple[list[str], list[str]]:
    nn = str(args.get("nn", DEFAULTS["nn"]))
    if args.get("u_dnn"):
        return ["dense"], [f"dense.units={_layers(args, 'p_dnn_depth')}"]
    for switch, block, opt in (("u_hw", "highway", "layers={}"), ("u_residual", "residual", "units={}")):
        if args.get(switch):
            if block in used:
                raise ConfigError(f"original flag --{switch} with its frame-level twin: serzoo's chain names "
                                  f"each block once (--opt {block}.*); translate one of them by hand")
            depth = args.get("p_dnn_depth", DEFAULTS["p_dnn_depth"])
            value = depth if block == "highway" else _layers(args, "p_dnn_depth")
            return ["dense", block], [f"dense.units={nn}", f"{block}.{opt.format(value)}"]
    return [], []


def model_args(args: dict, data_kind: str | None = None) -> tuple[list[str], list[str]]:
    """``--blocks`` and ``--opt`` arguments for the original's model flags, and notes on approximations.

    Raises:
        ConfigError: no model switch at all, or switches that contradict each other.
    """
    kind = data_kind or data_kind_of(args.get("dt")) or "2d"
    blocks, opts, notes = _front(args, kind)
    for part in (_frame(args), _temporal(args)):
        blocks += part[0]
        opts += part[1]
    utterance = _utterance(args, blocks)
    blocks += utterance[0]
    opts += utterance[1]
    if not blocks:
        raise ConfigError("the original command line names no model (--conv, --f_dnn, --u_lstm, ...)")
    if args.get("f_dnn") or args.get("f_highway") or args.get("f_residual"):
        notes.append("the original flattened the frame-level outputs over -t_max steps; serzoo averages them "
                     "over time before the utterance-level layers")
    out = ["--blocks", ",".join(blocks)]
    for opt in opts:
        out += ["--opt", opt]
    return out, notes
