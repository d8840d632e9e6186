"""Spec -> the top of the lowering ladder: one ``kan.layer`` op per KAN layer.

Parameters are declared as ``param_names`` says (DESIGN.md 6); a Tucker layer (spec key
``tucker``) is a ``kan.tucker_layer`` whose parameters are its factors.

A LoTRA spec ([finetune] method = "lotra") makes each layer the sum of its pretrained layer,
whose ``layers.{l}.coef`` is a frozen parameter, and a Tucker adapter ``layers.{l}.lotra.*``:

    %l.pt = kan.layer %x, @layers.l.coef                      (frozen: no gradient)
    %l.lotra = kan.tucker_layer %x, @layers.l.lotra.core, ...  (ranks ceil(cr * dims))
    %l = kan.add %l.pt, %l.lotra

which is W = W_pt + core x1 U1 x2 U2 x3 U3 without forming the update. A layer with a base
branch (base = "silu") is likewise kan.layer + kan.base_layer %x, @layers.l.base summed by
kan.add. A [scaling] table
adds a ``kan.affine`` before the first layer (%x.standardized) and after the last (%output).
"""

from __future__ import annotations

from kancc.errors import SpecError
from kancc.ir import BATCH, Graph, Op, Param, TensorType, Value, batched
from kancc.spec import BasisSpec, Spec
from kancc.spec.scaling_table import Affine

from .param_names import layer_form, layer_parameters

IR_DTYPES = {"float32": "f32", "float64": "f64"}


def layer_attrs(basis: BasisSpec) -> dict[str, object]:
    """The basis attributes of a layer op, exactly as the spec gives them."""
    return {
        "kind": basis.kind,
        "order": basis.order,
        "grid": basis.grid,
        "domain": basis.domain,
        "knots": basis.knots,
    }


def layer_ops(spec: Spec, index: int, x: Value, params: tuple[Param, ...]) -> list[Op]:
    """The op(s) of layer ``index`` applied to ``x``; its result is named str(index)."""
    result = Value(str(index), batched(x.type.dtype, spec.widths[index + 1]))
    attrs = layer_attrs(spec.layers[index])
    form = layer_form(spec, index)
    if form == "full" and spec.layers[index].base != "none":
        spline, base = (Value(f"{index}.{part}", result.type) for part in ("spline", "base"))
        return [Op.make("kan.layer", (x, params[0]), attrs, (spline,)),
                Op.make("kan.base_layer", (x, params[1]), {"fn": spec.layers[index].base},
                        (base,)),
                Op.make("kan.add", (spline, base), {}, (result,))]
    if form == "full":
        return [Op.make("kan.layer", (x, params[0]), attrs, (result,))]
    if form == "tucker":
        return [Op.make("kan.tucker_layer", (x, *params), attrs, (result,))]
    frozen, adapter = (Value(f"{index}.{part}", result.type) for part in ("pt", "lotra"))
    return [Op.make("kan.layer", (x, params[0]), attrs, (frozen,)),
            Op.make("kan.tucker_layer", (x, *params[1:]), attrs, (adapter,)),
            Op.make("kan.add", (frozen, adapter), {}, (result,))]


def build_graph(spec: Spec) -> Graph:
    """The model: [scaling]'s input map, one layer op (or LoTRA's three) per layer, then
    [scaling]'s output map."""
    for index, basis in enumerate(spec.layers):
        if basis.auto_domain:
            raise SpecError(f"layers[{index}].domain", 'is "auto": it is chosen from the '
                            "training data when training starts (kancc train); compile the "
                            "trained checkpoint (kancc compile CKPT)", spec.origin)
    dtype = IR_DTYPES[spec.dtype]
    x = Value("x", batched(dtype, spec.widths[0]))
    params: list[Param] = []
    ops: list[Op] = []
    current = x
    input_map = spec.scaling.input_map() if spec.scaling is not None else None
    output_map = spec.scaling.output_map() if spec.scaling is not None else None
    if input_map is not None:
        ops.append(_affine(current, input_map, "x.standardized"))
        current = ops[-1].result
    for index in range(spec.n_layers):
        declared = tuple(Param(d.name, TensorType(dtype, d.shape), d.frozen)
                         for d in layer_parameters(spec, index))
        params += declared
        ops += layer_ops(spec, index, current, declared)
        current = ops[-1].result
    if output_map is not None:
        ops.append(_affine(current, output_map, "output"))
        current = ops[-1].result
    return Graph(spec.name, (x,), tuple(params), tuple(ops), (current,))


def _affine(x: Value, scale_shift: Affine, name: str) -> Op:
    scale, shift = scale_shift
    return Op.make("kan.affine", (x,), {"scale": scale, "shift": shift}, (Value(name, x.type),))


def build_loss_graph(spec: Spec) -> Graph:
    """The model followed by the loss of the spec's [train] table: inputs (%x, %y), one
    scalar output. %y is f[B, out] for mse and i32[B] class labels for cross_entropy; the
    l2 penalty, when its weight is positive, adds one kan.penalty term per layer."""
    model = build_graph(spec)
    dtype = model.dtype
    (prediction,) = model.outputs
    n_out = spec.widths[-1]
    if spec.train.loss == "cross_entropy":
        target = Value("y", TensorType("i32", (BATCH,)))
    else:
        target = Value("y", batched(dtype, n_out))
    scalar = TensorType(dtype, ())
    loss = Value("loss", scalar)
    ops = list(model.ops)
    ops.append(Op.make("kan.loss", (prediction, target), {"kind": spec.train.loss, "weight": 1},
                       (loss,)))
    if spec.train.l2 > 0:
        for index, param in enumerate(model.trainable_params):
            term = Value(f"l2.{param.name}", scalar)
            ops.append(Op.make("kan.penalty", (param,), {"kind": "l2", "weight": spec.train.l2},
                               (term,)))
            total = Value(f"loss.{index}", scalar)
            ops.append(Op.make("kan.add", (loss, term), {}, (total,)))
            loss = total
    return Graph(model.name, model.inputs + (target,), model.params, tuple(ops), (loss,))
