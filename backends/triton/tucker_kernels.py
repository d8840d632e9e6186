"""Tucker layers on the Triton backend: the fused basis kernel does the first projection.

z3[b, p, c] = sum_i B_i(x[b, p]) U3[i, c] is a one-input KAN layer with r3 outputs applied to
every entry of x: the ``layer`` kernel of ``kernels.py`` on x viewed as [batch * in, 1] with
coef[0, c, i] = U3[i, c]. So the basis is evaluated in registers and projected on U3 in the
same program, and nothing of size [batch, in, n_b] exists. The remaining contractions
(U1, core, U2) are small dense products left to torch. The backward sweep reuses
``vjp_coef`` (dU3) and ``vjp_input`` (dx) on the same view.
"""

from __future__ import annotations

from kancc.ir import Op, Param, TensorType, Value, n_basis

from .kernels import Kernel, layer_kernel, vjp_coef_kernel, vjp_input_kernel


def projection_op(op: Op) -> Op:
    """The one-input layer x[:, None] -> z3 that shares ``op``'s basis (kernel input only)."""
    x, core, u1, u2, u3 = op.operands[:5]
    dtype = x.type.dtype
    nb, r3 = u3.type.shape
    coef = Param("u3t", TensorType(dtype, (1, r3, nb)))
    z3 = Value("z3", TensorType(dtype, (x.type.shape[0], r3)))
    return Op("kan.fused_layer", (Value("x1", TensorType(dtype, (x.type.shape[0], 1))), coef),
              op.attrs, (z3,))


def _sizes(op: Op) -> dict[str, int]:
    x, core = op.operands[:2]
    r1, r2, r3 = core.type.static_shape
    return {"IN": int(x.type.shape[1]), "R1": r1, "R2": r2, "R3": r3,
            "NB": n_basis(op.attr("order"), op.attr("grid"))}


def _projection(index: int, sizes: dict[str, int]) -> list[str]:
    n_in, r3, nb = sizes["IN"], sizes["R3"], sizes["NB"]
    return [
        "    n = x.shape[0]",
        "    xs = x.reshape(-1, 1)",
        f"    u3t = u3.t().reshape(1, {r3}, {nb}).contiguous()",
        f"    z3 = layer_{index}(xs, u3t).reshape(n, {n_in}, {r3})",
        "    z1 = torch.matmul(u1.t(), z3)",
        f"    core_matrix = core.permute(0, 2, 1).reshape({sizes['R1'] * r3}, {sizes['R2']})",
        "    h = z1.reshape(n, -1) @ core_matrix",
    ]


def tucker_kernel(op: Op, index: int, dtype: str) -> Kernel:
    """tucker_{index}(x, core, u1, u2, u3): the forward layer in the cheap order."""
    kernel = layer_kernel(projection_op(op), index, dtype)
    lines = kernel.lines + [
        "",
        "",
        f"def tucker_{index}(x, core, u1, u2, u3):",
        '    """y = sum_(p, i) W[p, q, i] B_i(x[b, p]), W = core x1 u1 x2 u2 x3 u3 never formed:',
        '    basis and U3 in one kernel, then U1, core and U2."""',
        *_projection(index, _sizes(op)),
        "    return h @ u2.t()",
    ]
    return Kernel(kernel.tables, lines)


def tucker_vjp_kernel(op: Op, index: int, dtype: str) -> Kernel:
    """tucker_vjp_{index}(x, core, u1, u2, u3, g, deterministic) -> (dcore, du1, du2, du3
    [, dx]): the chain rule through the four contractions; the basis is recomputed."""
    sizes = _sizes(op)
    view = projection_op(op)
    parts = [layer_kernel(view, index, dtype), vjp_coef_kernel(view, index, dtype)]
    want_dx = len(op.results) == 5
    if want_dx:
        parts.append(vjp_input_kernel(view, index, dtype))
    r1, r2, r3, nb = sizes["R1"], sizes["R2"], sizes["R3"], sizes["NB"]
    lines: list[str] = []
    for part in parts:
        lines += part.lines + ["", ""]
    lines += [
        f"def tucker_vjp_{index}(x, core, u1, u2, u3, g, deterministic=False):",
        '    """Gradients of tucker_layer from g = d(loss)/dy (the NumPy module\'s tucker_vjp)."""',
        *_projection(index, sizes),
        "    gh = g @ u2",
        "    du2 = g.t() @ h",
        f"    dcore = (z1.reshape(n, -1).t() @ gh).reshape({r1}, {r3}, {r2}).permute(0, 2, 1)",
        f"    gz1 = (gh @ core_matrix.t()).reshape(n, {r1}, {r3})",
        "    du1 = torch.tensordot(z3, gz1, dims=([0, 2], [0, 2]))",
        f"    gz3 = torch.matmul(u1, gz1).reshape(-1, {r3}).contiguous()",
        f"    du3 = vjp_coef_{index}(xs, gz3, deterministic).reshape({r3}, {nb}).t()",
    ]
    if want_dx:
        lines += [f"    dx = vjp_input_{index}(xs, u3t, gz3).reshape(n, {sizes['IN']})",
                  "    return dcore.contiguous(), du1, du2, du3.contiguous(), dx"]
    else:
        lines.append("    return dcore.contiguous(), du1, du2, du3.contiguous()")
    return Kernel([t for part in parts for t in part.tables], lines)
