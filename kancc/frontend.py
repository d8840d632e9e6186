"""Spec -> the top of the lowering ladder: one ``kan.layer`` op per KAN layer.

Parameters are declared as ``layers.{l}.coef`` with shape (in, out, n_b) (DESIGN.md 6); a
Tucker layer (spec key ``tucker``) is a ``kan.tucker_layer`` whose parameters are its factors
``layers.{l}.core`` (r1, r2, r3), ``.u1`` (in, r1), ``.u2`` (out, r2), ``.u3`` (n_b, r3).

A LoTRA spec ([finetune] method = "lotra") makes each layer the sum of its pretrained layer,
whose ``layers.{l}.coef`` is a frozen parameter, and a Tucker adapter ``layers.{l}.lotra.*``:

    %l.pt = kan.layer %x, @layers.l.coef                      (frozen: no gradient)
    %l.lotra = kan.tucker_layer %x, @layers.l.lotra.core, ...  (ranks ceil(cr * dims))
    %l = kan.add %l.pt, %l.lotra

which is W = W_pt + core x1 U1 x2 U2 x3 U3 without forming the update.
"""

from __future__ import annotations

from .spec import BasisSpec, Spec
from .tucker import ranks_for, tucker_params
from kancc.ir import BATCH, Graph, Op, Param, TensorType, Value, batched

IR_DTYPES = {"float32": "f32", "float64": "f64"}


def basis_attrs(basis: BasisSpec) -> dict[str, object]:
    """The basis attributes of a layer op, exactly as the spec gives them."""
    return {
        "kind": basis.kind,
        "order": basis.order,
        "grid": basis.grid,
        "domain": basis.domain,
        "knots": basis.knots,
    }


def build_graph(spec: Spec) -> Graph:
    dtype = IR_DTYPES[spec.dtype]
    x = Value("x", batched(dtype, spec.widths[0]))
    params, ops, current = [], [], x
    lotra = spec.finetune is not None and spec.finetune.lotra
    for index, basis in enumerate(spec.layers):
        n_in, n_out = spec.widths[index], spec.widths[index + 1]
        result = Value(str(index), batched(dtype, n_out))
        if lotra:
            assert spec.finetune is not None and spec.finetune.cr is not None
            dims = (n_in, n_out, basis.n_basis)
            coef = Param(f"layers.{index}.coef", TensorType(dtype, dims), frozen=True)
            factors = tucker_params(f"layers.{index}.lotra", dtype, dims,
                                    ranks_for(dims, spec.finetune.cr))
            params += [coef, *factors]
            frozen, adapter = (Value(f"{index}.{part}", result.type) for part in ("pt", "lotra"))
            ops += [Op.make("kan.layer", (current, coef), basis_attrs(basis), (frozen,)),
                    Op.make("kan.tucker_layer", (current, *factors), basis_attrs(basis),
                            (adapter,)),
                    Op.make("kan.add", (frozen, adapter), {}, (result,))]
        elif basis.tucker is None:
            coef = Param(f"layers.{index}.coef",
                         TensorType(dtype, (n_in, n_out, basis.n_basis)))
            params.append(coef)
            ops.append(Op.make("kan.layer", (current, coef), basis_attrs(basis), (result,)))
        else:
            factors = tucker_params(f"layers.{index}", dtype, (n_in, n_out, basis.n_basis),
                                    basis.tucker)
            params += factors
            ops.append(Op.make("kan.tucker_layer", (current, *factors), basis_attrs(basis),
                               (result,)))
        current = result
    return Graph(spec.name, (x,), tuple(params), tuple(ops), (current,))


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
