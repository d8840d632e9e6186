"""Spec -> the top of the lowering ladder: one ``kan.layer`` op per KAN layer.

Parameters are declared as ``layers.{l}.coef`` with shape (in, out, n_b) (DESIGN.md 6).
"""

from __future__ import annotations

from .spec import BasisSpec, Spec
from kancc.ir import Graph, Op, Param, TensorType, Value, batched

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
    for index, basis in enumerate(spec.layers):
        n_in, n_out = spec.widths[index], spec.widths[index + 1]
        coef = Param(f"layers.{index}.coef", TensorType(dtype, (n_in, n_out, basis.n_basis)))
        params.append(coef)
        result = Value(str(index), batched(dtype, n_out))
        ops.append(Op.make("kan.layer", (current, coef), basis_attrs(basis), (result,)))
        current = result
    return Graph(spec.name, (x,), tuple(params), tuple(ops), (current,))
