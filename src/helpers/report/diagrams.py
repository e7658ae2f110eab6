"""Block diagrams drawn from built Keras models (generator, discriminator, backbones) and of the GAN as a system."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patches as mpatches

__all__ = ["model_rows", "model_diagram", "gan_system_diagram", "backbone_stages", "backbone_diagram"]


def _shape_text(shape: Any) -> str:
    dims = [d for d in tuple(shape)[1:]]
    return "×".join("?" if d is None else str(int(d)) for d in dims) or "scalar"


#: Parameter-free (or normalising) layers that join the box of the layer before them.
_ATTACH = ("LeakyReLU", "ReLU", "Activation", "ELU", "PReLU", "Softmax", "Dropout", "BatchNormalization")
_BOX_COLORS = {"conv": "#d6e6f5", "dense": "#fde2c8", "input": "#e8e8e8", "shape": "#fff4c2", "other": "#e6f2e1"}


def _layer_kind(layer: Any) -> tuple[str, str, str]:
    """``(type name, detail, colour key)`` of one Keras layer."""
    name = type(layer).__name__
    inner = getattr(layer, "layer", None)
    cfg = (inner or layer).get_config() if hasattr(inner or layer, "get_config") else {}
    core = type(inner).__name__ if inner is not None else name
    detail = ""
    if core in ("Conv2D", "Conv2DTranspose", "Conv1D", "SeparableConv2D", "DepthwiseConv2D"):
        k = "×".join(str(v) for v in cfg.get("kernel_size", ()))
        s = cfg.get("strides", (1,))[0]
        detail = f"{cfg.get('filters', '')} filters {k}" + (f", stride {s}" if s != 1 else "")
    elif core == "Dense":
        detail = f"{cfg.get('units')} unit{'s' if cfg.get('units') != 1 else ''}"
    elif core == "Embedding":
        detail = f"{cfg.get('input_dim')} classes → {cfg.get('output_dim')}"
    elif core == "Dropout":
        detail = f"rate {cfg.get('rate')}"
    elif core == "LeakyReLU":
        detail = f"slope {cfg.get('negative_slope', cfg.get('alpha', ''))}"
    act = cfg.get("activation")
    if core in ("Conv2D", "Conv2DTranspose", "Dense") and act not in (None, "linear"):
        detail += f", {act}"
    label = f"SpectralNorm({core})" if inner is not None and name == "SpectralNormalization" else core
    key = ("input" if core == "InputLayer" else "conv" if "Conv" in core else "dense" if core in ("Dense", "Embedding")
           else "shape" if core in ("Reshape", "Flatten", "Concatenate", "Resizing") else "other")
    return label, detail, key


def model_rows(model: Any) -> list[dict[str, Any]]:
    """The boxes of :func:`model_diagram`, one per layer (activations, dropout, BN merged into the layer before):
    ``kind``, ``detail``, ``shape``, ``params``, ``layers``, ``color`` (key), ``inputs``."""
    rows: list[dict[str, Any]] = []
    for layer in model.layers:
        label, detail, key = _layer_kind(layer)
        try:
            shape = _shape_text(layer.output.shape)
        except (AttributeError, ValueError):
            shape = "?"
        params = int(layer.count_params()) if layer.built else 0
        inbound = getattr(layer, "_inbound_nodes", [])
        n_in = len(inbound[0].input_tensors) if inbound and hasattr(inbound[0], "input_tensors") else 1
        if label in _ATTACH and rows and rows[-1]["color"] != "input" and n_in == 1:
            prev = rows[-1]
            prev["kind"] += f" + {label}"
            prev["detail"] = ", ".join(d for d in (prev["detail"], detail) if d)
            prev["shape"], prev["params"] = shape, prev["params"] + params
            prev["layers"].append(layer.name)
            continue
        if label == "InputLayer":
            label = f"Input '{layer.name}'"
        elif n_in > 1:
            detail = ", ".join(d for d in (detail, f"joins {n_in} inputs") if d)
        rows.append({"kind": label, "detail": detail, "shape": shape, "params": params, "layers": [layer.name],
                     "color": key, "inputs": n_in})
    return rows


def _collapse_rows(rows: list[dict[str, Any]], max_rows: int) -> list[dict[str, Any]]:
    """Runs of boxes of the same kind become one box ``kind ×n`` (first → last shape) when there are too many."""
    if len(rows) <= max_rows:
        return rows
    out: list[dict[str, Any]] = []
    for row in rows:
        prev = out[-1] if out else None
        if prev is not None and prev["kind"].split(" ×")[0] == row["kind"]:
            n = int(prev.get("repeat", 1)) + 1
            prev.update(kind=f"{row['kind']} ×{n}", repeat=n, params=prev["params"] + row["params"],
                        shape=f"{prev.get('first_shape', prev['shape'])} → {row['shape']}", layers=prev["layers"] + row["layers"],
                        detail="repeated blocks")
        else:
            out.append(dict(row, first_shape=row["shape"]))
    if len(out) > max_rows:
        head, tail = out[: max_rows // 2], out[-(max_rows - max_rows // 2 - 1):]
        hidden = out[len(head): len(out) - len(tail)]
        gap = {"kind": f"… {len(hidden)} more boxes …", "detail": "", "shape": "", "color": "other", "inputs": 1,
               "params": sum(r["params"] for r in hidden), "layers": [n for r in hidden for n in r["layers"]]}
        out = [*head, gap, *tail]
    return out


def _box(ax: plt.Axes, x: float, y: float, w: float, h: float, color: str, *, dashed: bool = False,
         lw: float = 0.9) -> None:
    ax.add_patch(mpatches.FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.06", facecolor=color,
                                         edgecolor="0.3", lw=lw, ls="--" if dashed else "-"))


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], *, color: str = "0.25",
           style: str = "-|>", ls: str = "-", rad: float = 0.0, lw: float = 1.1) -> None:
    ax.add_patch(mpatches.FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, color=color, lw=lw,
                                          linestyle=ls, connectionstyle=f"arc3,rad={rad}", shrinkA=1, shrinkB=1))


def _box_stack(ax: plt.Axes, boxes: Sequence[dict[str, Any]], *, x: float, width: float, h: float,
               detail_size: float) -> None:
    """Boxes top to bottom joined by arrows: bold ``title`` and ``detail`` left, ``shape`` and parameters right."""
    n = len(boxes)
    for i, b in enumerate(boxes):
        y = n - 1 - i + (1 - h) / 2
        _box(ax, x, y, width, h, b["color"])
        ax.text(x + 0.03, y + h * 0.68, b["title"], fontsize=8.5, fontweight="bold", va="center")
        if b["detail"]:
            ax.text(x + 0.03, y + h * 0.27, b["detail"], fontsize=detail_size, va="center", color="0.2")
        right = x + width - 0.02
        ax.text(right, y + h * 0.68, b["shape"], fontsize=8, va="center", ha="right", family="monospace")
        ax.text(right, y + h * 0.27, f"{b['params']:,} params", fontsize=detail_size, va="center", ha="right",
                color="0.3")
        if i + 1 < n:
            _arrow(ax, (0.5, y), (0.5, y - (1 - h)))


def model_diagram(model: Any, title: str | None = None, max_rows: int = 22) -> plt.Figure:
    """A built Keras model as boxes top to bottom: layer type, settings, output shape, parameters.

    Over ``max_rows`` boxes, runs of the same kind collapse ("… ×n"), then the middle is elided.
    """
    rows = _collapse_rows(model_rows(model), max_rows)
    n = len(rows)
    fig, ax = plt.subplots(figsize=(6.6, 0.62 * n + 1.1))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.35, n)
    ax.axis("off")
    boxes = [{**row, "title": row["kind"], "color": _BOX_COLORS.get(row["color"], "white")} for row in rows]
    _box_stack(ax, boxes, x=0.03, width=0.94, h=0.62, detail_size=7.5)
    total = int(model.count_params())
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    ax.text(0.5, -0.3, f"{total:,} parameters ({trainable:,} trainable) · shapes without the batch axis",
            ha="center", va="bottom", fontsize=7.5, color="0.3")
    ax.set_title(title or model.name, fontsize=11)
    fig.tight_layout()
    return fig


def _elbow(ax: plt.Axes, points: Sequence[tuple[float, float]], *, color: str, ls: str = "--", lw: float = 1.2) -> None:
    """A polyline through ``points`` ending in an arrow head."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color=color, ls=ls, lw=lw, solid_capstyle="butt")
    _arrow(ax, points[-2], points[-1], color=color, ls=ls, lw=lw)


def gan_system_diagram(*, diffaugment: str | bool | None = None, conditional: bool = False, loss: str = "bce",
                       latent_dim: int = 100, image_size: int | None = None, ema: bool = False,
                       minority: str = "minority", title: str | None = None) -> plt.Figure:
    """The GAN as a system (Ghosh & Dutta's Figures 1-2): noise → G → fakes and real images → (DiffAugment) → D →
    loss, whose gradients update D and G; ``conditional`` adds the label, ``ema`` the averaged copy of G."""
    size = f"{image_size}×{image_size}×1" if image_size else "H×W×1"
    fig, ax = plt.subplots(figsize=(11.5, 4.9))
    ax.set_xlim(0, 14.6)
    ax.set_ylim(0, 6.3)
    ax.axis("off")
    bh = 1.0

    def node(x: float, y: float, w: float, text: str, color: str) -> None:
        _box(ax, x, y, w, bh, color, lw=1.2)
        ax.text(x + w / 2, y + bh / 2, text, ha="center", va="center", fontsize=8.5)

    top, bottom, mid = 3.9, 0.9, 2.4
    node(0.2, top, 1.9, f"noise z\n~ N(0, I$_{{{latent_dim}}}$)", "#e8e8e8")
    node(2.6, top, 1.9, "Generator G", "#fde2c8")
    node(5.0, top, 2.1, f"fake images\nG(z), {size}", "#f7d4d4")
    real = "real images, both classes\n+ their labels" if conditional else f"real {minority} images"
    node(5.0, bottom, 2.1, f"{real}\n(training split only)", "#d6e6f5")
    _arrow(ax, (2.1, top + 0.5), (2.6, top + 0.5))
    _arrow(ax, (4.5, top + 0.5), (5.0, top + 0.5))
    policy = diffaugment if isinstance(diffaugment, str) and diffaugment else ("on" if diffaugment else "")
    d_x, d_w = 9.9, 2.0
    if policy:
        node(7.7, mid, 1.7, "DiffAugment\n" + "\n".join(textwrap.wrap(policy.replace(",", ", "), 18)), "#e6f2e1")
        _arrow(ax, (7.1, top + 0.5), (8.55, mid + bh), rad=-0.2)
        _arrow(ax, (7.1, bottom + 0.5), (8.55, mid), rad=0.2)
        _arrow(ax, (9.4, mid + 0.5), (d_x, mid + 0.5))
        ax.text(8.55, mid - 0.15, "every image D sees,\nreal and fake", ha="center", va="top", fontsize=6.5, color="0.35")
    else:
        _arrow(ax, (7.1, top + 0.5), (d_x + d_w / 2, mid + bh), rad=-0.15)
        _arrow(ax, (7.1, bottom + 0.5), (d_x + d_w / 2, mid), rad=0.15)
    node(d_x, mid, d_w, "Discriminator D\n" + ("P(real)" if loss == "bce" else "score"), "#fde2c8")
    loss_text = ("BCE loss\nD: real → 1, fake → 0\nG: fake → 1" if loss == "bce"
                 else "hinge loss\nD: relu(1 − D(x))\n + relu(1 + D(G(z)))\nG: −D(G(z))")
    l_x = 12.4
    ax.text(l_x + 1.0, mid + 0.5, loss_text, ha="center", va="center", fontsize=7.5,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.3"})
    _arrow(ax, (d_x + d_w, mid + 0.5), (l_x, mid + 0.5))
    _elbow(ax, [(l_x + 1.0, mid - 0.25), (l_x + 1.0, 0.35), (d_x + d_w / 2, 0.35), (d_x + d_w / 2, mid)], color="#1f77b4")
    ax.text((l_x + d_x + d_w / 2 + 1.0) / 2, 0.42, "update D", color="#1f77b4", fontsize=7.5, ha="center", va="bottom")
    _elbow(ax, [(l_x + 1.0, mid + 1.3), (l_x + 1.0, 5.75), (3.55, 5.75), (3.55, top + bh)], color="#d62728")
    ax.text(8.0, 5.82, "update G: gradients flow back through D" + (" (non-saturating loss)" if loss == "bce" else ""),
            color="#d62728", fontsize=7.5, ha="center", va="bottom")
    if conditional:
        node(0.2, bottom, 1.9, "class label y", "#fff4c2")
        _arrow(ax, (2.1, bottom + 0.7), (3.2, top), rad=0.1)
        ax.text(1.15, bottom - 0.1, "also fed to D with every image", fontsize=6.5, color="0.35", ha="center", va="top")
    if ema:
        ax.text(3.55, top - 0.12, "an EMA copy of G's weights\ndraws the samples", ha="center", va="top", fontsize=6.8,
                color="0.35")
    ax.set_title(title or f"The GAN as a system ({'conditional, ' if conditional else ''}{loss.upper()} loss"
                 f"{', DiffAugment' if policy else ', no augmentation'})", fontsize=11)
    fig.tight_layout()
    return fig


def _flat_layers(model: Any) -> list[tuple[Any, bool]]:
    """Every layer of ``model``, nested models expanded in place: ``(layer, inside a nested model)``."""
    out: list[tuple[Any, bool]] = []

    def walk(m: Any, nested: bool) -> None:
        for layer in m.layers:
            if hasattr(layer, "layers") and layer.layers and type(layer).__name__ not in ("Sequential",):
                walk(layer, True)
            else:
                out.append((layer, nested))

    walk(model, False)
    return out


def _stage(label: str, detail: str, layers: Sequence[Any], kind: str) -> dict[str, Any]:
    shape = _shape_text(layers[-1].output.shape) if layers else ""
    return {"label": label, "detail": detail, "shape": shape, "params": int(sum(lay.count_params() for lay in layers)),
            "kind": kind}


_PREPROCESSING = {"Resizing": "resize", "GrayToRGB": "gray → 3 channels", "Rescaling": "÷ 255",
                  "Normalization": "ImageNet mean/std"}


def _stage_key(n: str, family: str) -> str:
    """The stage a backbone layer belongs to, from its name: ``stem``, ``block<k>``, ``transition<k>`` or ``post``."""
    m_block = re.match(r"conv(\d+)_block", n) if family == "densenet" else re.match(r"stack(\d+)_", n)
    m_trans = re.match(r"pool(\d+)_", n) if family == "densenet" else None
    if m_block and (family == "resnet" or int(m_block[1]) >= 2):
        return f"block{int(m_block[1]) - (1 if family == 'densenet' else -1)}"
    if m_trans and int(m_trans[1]) >= 2:
        return f"transition{int(m_trans[1]) - 1}"
    if n.startswith(("conv1", "pool1", "zero_padding2d")):
        return "stem"
    return "post"


def _stage_row(key: str, layers: Sequence[Any], family: str, names: Mapping[str, Any]) -> dict[str, Any]:
    if key == "input":
        return _stage("Input + preprocessing", " · ".join(_PREPROCESSING.get(type(lay).__name__, lay.name)
                                                           for lay in layers), layers, "input")
    if key == "stem":
        return _stage("Stem", "7×7 conv 64, stride 2 · BN-ReLU · 3×3 max pool, stride 2", layers, "stem")
    if key.startswith("block") and family == "densenet":
        n_layers = len({re.match(r"conv\d+_block(\d+)_", lay.name)[1] for lay in layers})
        return _stage(f"Dense block {key[len('block'):]}",
                      f"{n_layers} layers, each BN-ReLU-Conv1×1-BN-ReLU-Conv3×3 → concat", layers, "block")
    if key.startswith("block"):
        k = key[len("block"):]
        n_blocks = len({re.match(r"stack\d+_block(\d+)_", lay.name)[1] for lay in layers})
        conv = names.get(f"stack{int(k) - 1}_block0_1_conv")
        filters = conv.get_config()["filters"] if conv is not None else "?"
        stride = conv.get_config()["strides"][0] if conv is not None else 1
        return _stage(f"Stage {k}", f"{n_blocks} basic blocks, {filters} filters"
                      + (f", first stride {stride}" if stride != 1 else ""), layers, "block")
    if key.startswith("transition"):
        return _stage(f"Transition {key[len('transition'):]}", "BN-ReLU · 1×1 conv (halves channels) · "
                      "2×2 avg pool, stride 2", layers, "transition")
    if key == "post":
        return _stage("Final BN-ReLU + global average pool" if family == "densenet" else "Backbone output",
                      "", layers, "head")
    parts = [" ".join(p for p in _layer_kind(lay)[:2] if p) for lay in layers]
    return _stage("Head", " · ".join(p.replace("GlobalAveragePooling2D", "global average pool") for p in parts),
                  layers, "head")


def _block_unit(family: str, names: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The backbone's name and the inside of one of its blocks (``title``, ``merge``, ``steps``)."""
    if family == "densenet":
        bott, grow = names["conv2_block1_1_conv"].get_config()["filters"], names["conv2_block1_2_conv"].get_config()["filters"]
        return "DenseNet121", {"title": "inside a dense block (one layer)", "merge": "concat",
                               "steps": ["BN", "ReLU", f"Conv 1×1, {bott} filters", "BN", "ReLU",
                                         f"Conv 3×3, {grow} filters", f"concatenate with the input (+{grow} channels)"]}
    return "ResNet-18", {"title": "inside a basic block", "merge": "add",
                         "steps": ["Conv 3×3 (stride 1 or 2)", "BN", "ReLU", "Conv 3×3", "BN",
                                   "add the shortcut (1×1 conv, stride 2,\nwhen the shape changes)", "ReLU"]}


def backbone_stages(model: Any) -> dict[str, Any]:
    """The stages of a built DenseNet121 (keras.applications) or keras-hub ResNet-18, read from its layer names.

    Returns ``name``, ``stages`` (``label``, ``detail``, ``shape``, ``params``, ``kind``; wrapper layers before
    the backbone form an "input" stage, those after it a "head"), ``unit`` (one block's inside) and ``total_params``.
    """
    flat = _flat_layers(model)
    names = {layer.name: layer for layer, _ in flat}
    if "conv2_block1_concat" in names:
        family = "densenet"
    elif "stack0_block0_add" in names:
        family = "resnet"
    else:
        raise ValueError("backbone_stages knows DenseNet121 (keras.applications) and keras-hub ResNet layer names; "
                         f"found neither in {model.name!r}")
    groups: dict[str, list[Any]] = {}
    seen_backbone = False
    for layer, nested in flat:
        if type(layer).__name__ == "InputLayer":
            continue
        seen_backbone |= nested
        key = _stage_key(layer.name, family) if nested else "head" if seen_backbone else "input"
        groups.setdefault(key, []).append(layer)
    stages = [_stage_row(key, layers, family, names) for key, layers in groups.items()]
    name, unit = _block_unit(family, names)
    return {"name": name, "stages": stages, "unit": unit, "total_params": int(model.count_params())}


_STAGE_COLORS = {"input": "#e8e8e8", "stem": "#d6e6f5", "block": "#fde2c8", "transition": "#e6f2e1", "head": "#fff4c2"}


def backbone_diagram(stages: Any, title: str | None = None) -> plt.Figure:
    """A backbone's stages with output shapes and parameters (left) and the inside of one block (right);
    ``stages``: :func:`backbone_stages` output or the built model."""
    spec = stages if isinstance(stages, Mapping) else backbone_stages(stages)
    rows, unit = spec["stages"], spec["unit"]
    n = len(rows)
    fig = plt.figure(figsize=(10.2, 0.62 * max(n, len(unit["steps"]) + 1) + 1.2))
    grid = fig.add_gridspec(1, 2, width_ratios=[2.5, 1.15], wspace=0.05)
    ax = fig.add_subplot(grid[0])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.4, n)
    ax.axis("off")
    boxes = [{**row, "title": row["label"], "color": _STAGE_COLORS.get(row["kind"], "white"),
              "detail": "\n".join(textwrap.wrap(row["detail"], 70))[:140]} for row in rows]
    _box_stack(ax, boxes, x=0.02, width=0.96, h=0.64, detail_size=7)
    ax.text(0.5, -0.35, f"{spec['total_params']:,} parameters · output shapes without the batch axis",
            ha="center", va="bottom", fontsize=7.5, color="0.3")
    ax2 = fig.add_subplot(grid[1])
    steps = unit["steps"]
    m = len(steps)
    ax2.set_xlim(0, 1)
    ax2.set_ylim(-0.4, n)
    ax2.axis("off")
    pitch = min(0.85, (n - 1.2) / (m + 0.5))
    y_in = n - 0.75
    ax2.text(0.4, n - 0.35, unit["title"], ha="center", va="center", fontsize=9, fontweight="bold")
    ax2.text(0.4, y_in, "block input", ha="center", va="center", fontsize=7, color="0.3")
    prev, merge_y = y_in - 0.12, None
    for j, step in enumerate(steps):
        y = y_in - pitch * (j + 1)
        merge = step.startswith(("add", "concatenate"))
        _box(ax2, 0.06, y, 0.68, pitch * 0.62, "#fde2c8" if "Conv" in step else "#d6e6f5" if merge else "#f3f3f3")
        ax2.text(0.4, y + pitch * 0.31, "\n".join(textwrap.wrap(step.replace("\n", " "), 30)), ha="center", va="center",
                 fontsize=6.6)
        _arrow(ax2, (0.4, prev), (0.4, y + pitch * 0.62))
        prev = y
        if merge:
            merge_y = y + pitch * 0.31
    if merge_y is not None:
        _elbow(ax2, [(0.56, y_in), (0.86, y_in), (0.86, merge_y), (0.74, merge_y)], color="#1f77b4")
        ax2.text(0.9, (y_in + merge_y) / 2, "the block input itself" if unit["merge"] == "concat" else "shortcut",
                 rotation=90, fontsize=7, color="#1f77b4", ha="left", va="center")
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.55 / height, bottom=0.02)
    fig.suptitle(title or f"{spec['name']}: stages and output shapes", fontsize=11)
    return fig
