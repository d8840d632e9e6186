"""tucker: factorize every full layer by truncated HOSVD (Slim KANs; kancc.numerics.hosvd).

    %0 = kan.layer %x, @layers.0.coef {basis}
        ==>  %0 = kan.tucker_layer %x, @layers.0.core, @layers.0.u1, @layers.0.u2,
                                       @layers.0.u3 {basis}

Ranks r_k = ceil(cr * dim_k) of the (in, out, n_b) coefficient tensor (option ``cr``, an
exact number in (0, 1], default 1). The param map is the HOSVD (core, U1, U2, U3), computed
in float64; the inverse forms W = core x1 U1 x2 U2 x3 U3 again, so a program's parameters
read back at the spec level. With cr = 1 the model is unchanged to rounding; truncated,
||W - W_hat||_F^2 <= the sum of the discarded squared mode singular values, per layer. Layers
the spec already makes Tucker layers are left as they are. Works on the spec view.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from kancc.errors import PassError
from kancc.frontend.param_names import factors_of_coef, tucker_shapes
from kancc.ir import Graph, Op, Param, TensorType
from kancc.numerics.hosvd import Tucker, hosvd, ranks_for

from .options import Ratio, option
from .pass_types import Params, Pass, PassResult
from .spec_view import spec_view_layers


@dataclass(frozen=True)
class TuckerOptions:
    cr: Fraction = option(Fraction(1), Ratio(), "the compression ratio: ranks "
                                                "ceil(cr * (in, out, n_b))")


def tucker(graph: Graph, options: TuckerOptions) -> PassResult:
    cr = options.cr
    layers = spec_view_layers(graph, "tucker")
    if not layers:
        if any(op.name == "kan.tucker_layer" for op in graph.ops):
            return PassResult(graph)  # the spec made every layer a Tucker layer already
        raise PassError("tucker: the graph has no kan.layer to factorize")
    factors: dict[str, list[Param]] = {}  # coef name -> core, u1, u2, u3
    replaced: dict[int, Op] = {}
    for op, coef in layers:
        n_in, n_out, n_b = coef.type.static_shape
        dims = (n_in, n_out, n_b)
        try:
            names = factors_of_coef(coef.name)
        except ValueError as exc:
            raise PassError(f"tucker: {exc}") from None
        shapes = tucker_shapes(dims, ranks_for(dims, cr))
        factors[coef.name] = [Param(name, TensorType(coef.type.dtype, shape))
                              for name, shape in zip(names, shapes)]
        replaced[id(op)] = Op("kan.tucker_layer", (op.operands[0], *factors[coef.name]),
                              op.attrs, op.results)
    for op in graph.ops:
        used = [o.name for o in op.operands if o.name in factors]
        if used and id(op) not in replaced:
            raise PassError(f"tucker does not apply: @{used[0]} is also read by {op.name} "
                            "(an l2 penalty on the full coefficients); set train.l2 = 0")
    params: list[Param] = []
    for param in graph.params:
        params += factors.get(param.name, [param])
    ops = tuple(replaced.get(id(op), op) for op in graph.ops)

    def param_map(values: Params) -> Params:
        out = {}
        for name, value in values.items():
            if name not in factors:
                out[name] = value
                continue
            ranks = factors[name][0].type.static_shape
            decomposition = hosvd(np.asarray(value, dtype=np.float64), ranks)
            arrays = (decomposition.core, *decomposition.factors)
            for param, array in zip(factors[name], arrays):
                out[param.name] = array.astype(np.asarray(value).dtype)
        return out

    def inverse(values: Params) -> Params:
        out = dict(values)
        for name, group in factors.items():
            core, u1, u2, u3 = (out.pop(p.name) for p in group)
            exact = [np.asarray(a, dtype=np.float64) for a in (core, u1, u2, u3)]
            full = Tucker(exact[0], (exact[1], exact[2], exact[3])).full()
            out[name] = full.astype(np.asarray(core).dtype)
        return out

    rewritten = Graph(graph.name, graph.inputs, tuple(params), ops, graph.outputs)
    return PassResult(rewritten, param_map, inverse)


PASS = Pass("tucker", "factorize full layers by truncated HOSVD: coef -> core, U1, U2, U3",
            tucker, TuckerOptions)
