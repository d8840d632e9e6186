"""The NumPy module's fixed text: its language table and the runtime helpers it carries."""

from __future__ import annotations

from ..local_basis import Syntax
from ..module_skeleton import Language

SYNTAX = Syntax.of_module(
    "np", ".astype(np.int64)", gather="{table}[{index}]",
    zeros_int="np.zeros_like({x}, dtype=np.int64)",
    search="np.clip(np.searchsorted({table}, {x}, side='right') - 1, 0, {last})")

RUNTIME = '''


def scatter_local(k, values, n_basis):
    """Dense [..., n_basis] basis tensor holding values[m] at index k + m, zero elsewhere."""
    out = np.zeros(k.size * n_basis, dtype=values[0].dtype)
    first = np.arange(0, k.size * n_basis, n_basis) + k.ravel()
    for m, v in enumerate(values):
        out[first + m] = v.ravel()
    return out.reshape(k.shape + (n_basis,))


def affine(x, scale, shift):
    """y[:, j] = x[:, j] * scale[j] + shift[j] in DTYPE (kan.affine: standardization)."""
    return x * np.asarray(scale, dtype=DTYPE) + np.asarray(shift, dtype=DTYPE)


def silu(x):
    """x * sigmoid(x) (the base branch), without overflow warnings for large |x|."""
    return x / (1.0 + np.exp(-x))


def dsilu(x):
    """d/dx silu(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))."""
    sigmoid = 1.0 / (1.0 + np.exp(-x))
    return sigmoid * (1.0 + x * (1.0 - sigmoid))


def contract(basis, weights):
    """y[b, q] = sum_(p, i) basis[b, p, i] weights[(p, i), q]: one GEMM (in the basis's
    dtype: float64 for truncated powers), rounded to DTYPE."""
    y = basis.reshape(basis.shape[0], weights.shape[0]) @ weights
    return y.astype(DTYPE, copy=False)


def pack_params(params):
    """Check the parameters and lay each coef (in, out, n_b) out as the GEMM reads it,
    (in * n_b, out); Tucker factors stay as they are. Pack once to evaluate many batches:
    forward_packed(packed, x)."""
    packed = {}
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise KeyError(f"params has no {name!r} (expected keys: {list(PARAM_SHAPES)})")
        value = np.asarray(params[name], dtype=DTYPE)
        if value.shape != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {value.shape}")
        if name in PACKED:
            value = np.ascontiguousarray(value.transpose(0, 2, 1)).reshape(-1, shape[1])
        packed[name] = value
    return packed


def unpack(packed, name):
    """The (in, out, n_b) layout of a packed coefficient (a Tucker factor as it is)."""
    if name not in PACKED:
        return packed[name]
    n_in, n_out, n_b = PARAM_SHAPES[name]
    return packed[name].reshape(n_in, n_b, n_out).transpose(0, 2, 1)


def tucker_layer(basis, core, u1, u2, u3):
    """y[b, q] = sum_(p, i) basis[b, p, i] W[p, q, i] with W = core x1 u1 x2 u2 x3 u3, in
    the cheap order basis -> u3 -> u1 -> core -> u2: W (in, out, n_b) is never formed."""
    z3, z1 = tucker_projections(basis, u3, u1)
    h = z1.reshape(z1.shape[0], -1) @ core.transpose(0, 2, 1).reshape(-1, core.shape[1])
    return (h @ u2.T).astype(DTYPE, copy=False)


def tucker_projections(basis, u3, u1):
    """z3[b, p, c] = sum_i basis[b, p, i] u3[i, c]; z1[b, a, c] = sum_p u1[p, a] z3[b, p, c]."""
    z3 = (basis @ u3.astype(basis.dtype)).astype(DTYPE, copy=False)
    return z3, np.matmul(u1.T, z3)


def check_input(x):
    x = np.asarray(x, dtype=DTYPE)
    if x.ndim != 2 or x.shape[1] != INPUT_WIDTH:
        raise ValueError(f"x must have shape (batch, {INPUT_WIDTH}), got {x.shape}")
    return x
'''

TRAINING_RUNTIME = '''


def check_target(y, n_rows):
    if n_rows == 0:
        raise ValueError("x has no rows: an empty batch has no mean loss")
    if TARGET_KIND == "labels":
        labels = np.asarray(y)
        if labels.shape != (n_rows,) or labels.dtype.kind not in "iu":
            raise ValueError(f"y must be {n_rows} integer class labels, got {labels.dtype} "
                             f"{labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= TARGET_WIDTH):
            raise ValueError(f"class labels must lie in 0..{TARGET_WIDTH - 1}")
        return labels.astype(np.int64)
    y = np.asarray(y, dtype=DTYPE)
    if y.shape != (n_rows, TARGET_WIDTH):
        raise ValueError(f"y must have shape ({n_rows}, {TARGET_WIDTH}), got {y.shape}")
    return y


def mse(pred, y):
    """mean over batch and outputs of (pred - y)^2."""
    diff = pred - y
    return np.mean(diff * diff)


def mse_grad(pred, y):
    return (pred - y) * (2.0 / pred.size)


def cross_entropy(logits, labels):
    """mean over the batch of -log softmax(logits)[label]."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(shifted).sum(axis=1))
    return np.mean(log_total - shifted[np.arange(labels.size), labels])


def cross_entropy_grad(logits, labels):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    grad = exp / exp.sum(axis=1, keepdims=True)
    grad[np.arange(labels.size), labels] -= 1.0
    return grad / labels.size


def dense_vjp_coef(basis, g, name):
    """dcoef[p, q, i] = sum_b g[b, q] basis[b, p, i], in the (in, out, n_b) layout."""
    n_in, n_out, n_b = PARAM_SHAPES[name]
    flat = basis.reshape(basis.shape[0], n_in * n_b).T @ g
    return flat.reshape(n_in, n_b, n_out).transpose(0, 2, 1).astype(DTYPE, copy=False)


def tucker_vjp(basis, dbasis, g, core, u1, u2, u3):
    """(dcore, du1, du2, du3[, dx]) of tucker_layer from g = d(loss)/dy, by the chain rule
    through its four contractions (dx only when dbasis is given)."""
    z3, z1 = tucker_projections(basis, u3, u1)
    n, r1, r3 = z1.shape
    core_matrix = core.transpose(0, 2, 1).reshape(r1 * r3, -1)  # [(a, c), d]
    h = z1.reshape(n, -1) @ core_matrix
    gh = g @ u2
    du2 = g.T @ h
    dcore = (z1.reshape(n, -1).T @ gh).reshape(r1, r3, -1).transpose(0, 2, 1)
    gz1 = (gh @ core_matrix.T).reshape(n, r1, r3)
    du1 = np.tensordot(z3, gz1, axes=([0, 2], [0, 2]))  # sum over b, c: one GEMM
    gz3 = np.matmul(u1, gz1)
    du3 = basis.reshape(-1, basis.shape[2]).T @ gz3.reshape(-1, r3).astype(basis.dtype)
    grads = [dcore, du1, du2, du3]
    if dbasis is not None:
        grads.append(np.sum(dbasis * (gz3 @ u3.T), axis=2))
    return tuple(grad.astype(DTYPE, copy=False) for grad in grads)


def dense_vjp_input(dbasis, g, weights):
    """dx[b, p] = sum_i dbasis[b, p, i] (g @ weights.T)[b, (p, i)]."""
    dx = np.sum(dbasis * (g @ weights.T).reshape(dbasis.shape), axis=2)
    return dx.astype(DTYPE, copy=False)
'''

JET_RUNTIME = '''


def jet_seed(x, order):
    """The jet [batch, d, 1 + order * d] of the model input: the value x, the first
    derivatives d x_p / d x_k = [p = k], the second derivatives 0."""
    n, d = x.shape
    jet = np.zeros((n, d, 1 + order * d), dtype=x.dtype)
    jet[:, :, 0] = x
    jet[:, np.arange(d), 1 + np.arange(d)] = 1.0
    return jet


def jet_combine(jet, value, slope, curve):
    """The jet of h[b, q] = value = sum_p f_qp(x_p) on the jet of x, from the edges'
    derivatives slope[b, p, q] = f'_qp(x_p) and (order 2) curve[b, p, q] = f''_qp(x_p):
    dh_q/dz_k = sum_p slope dx_p/dz_k; d2h_q/dz_k2 = sum_p curve (dx_p/dz_k)^2 + slope
    d2x_p/dz_k2 (per row, a product of [out, in] and [in, d] matrices)."""
    d = (jet.shape[2] - 1) // (1 if curve is None else 2)
    dx = jet[:, :, 1:1 + d]
    slope_t = slope.transpose(0, 2, 1)
    channels = [value[:, :, None], np.matmul(slope_t, dx)]
    if curve is not None:
        channels.append(np.matmul(curve.transpose(0, 2, 1), dx * dx)
                        + np.matmul(slope_t, jet[:, :, 1 + d:]))
    return np.concatenate(channels, axis=2).astype(DTYPE, copy=False)


def jet_layer(jet, bases, weights):
    """A KAN layer on a jet: bases = [B, B', B''] (or [B, B']) of the value, each
    [batch, in, n_b]; weights packed (in * n_b, out). phi'_qp(x_p) = sum_i w[p, i, q]
    B'_i(x_p), and phi'' alike."""
    n_in, n_b = bases[0].shape[1:]
    w = weights.reshape(n_in, n_b, -1)
    slope, *curve = (edge_sums(b, w) for b in bases[1:])
    return jet_combine(jet, contract(bases[0], weights), slope, curve[0] if curve else None)


def edge_sums(basis, w):
    """f[b, p, q] = sum_i basis[b, p, i] w[p, i, q]: every edge's function (or derivative)
    at its input, one GEMM per input."""
    return np.matmul(basis.transpose(1, 0, 2), w.astype(basis.dtype)).transpose(1, 0, 2)


def tucker_weights(core, u1, u2, u3):
    """W = core x1 u1 x2 u2 x3 u3 formed, packed (in * n_b, out) like a coef: jets of Tucker
    layers (the reference favours plain code over the cheap order)."""
    return np.einsum("abc,pa,qb,ic->piq", core, u1, u2, u3).reshape(-1, u2.shape[0])


def jet_base_layer(jet, fns, w, order):
    """The base branch silu(x) @ w on a jet (fns: ``silu_derivatives`` of its value)."""
    value, slope, curve, _ = fns
    return jet_combine(jet, value @ w, slope[:, :, None] * w,
                       curve[:, :, None] * w if order == 2 else None)


def jet_affine(jet, scale, shift):
    """kan.affine on a jet: every channel scaled, the value shifted."""
    out = jet * np.asarray(scale, dtype=DTYPE)[:, None]
    out[:, :, 0] += np.asarray(shift, dtype=DTYPE)
    return out


def silu_derivatives(x):
    """silu and its first three derivatives: with s = sigmoid(x), s' = s (1 - s),
    silu' = s (1 + x (1 - s)), silu'' = s' (2 + x (1 - 2 s)),
    silu^(3) = s' ((1 - 2 s) (3 + x (1 - 2 s)) - 2 x s')."""
    s = 1.0 / (1.0 + np.exp(-x))
    ds, u = s * (1.0 - s), 1.0 - 2.0 * s
    return (x * s, s * (1.0 + x * (1.0 - s)), ds * (2.0 + x * u),
            ds * (u * (3.0 + x * u) - 2.0 * x * ds))


def jet_parts(jet, g, order):
    """What multiplies f, f' and f'' of each edge [batch, in, out] in the cotangent of a
    jet combination (g: the cotangent of its output jet): a0 = g0 (broadcast over the
    inputs), a1 = sum_k dx_k g1_k + d2x_k g2_k, a2 = sum_k dx_k^2 g2_k."""
    d = (jet.shape[2] - 1) // order
    dx = jet[:, :, 1:1 + d]
    g1 = g[:, :, 1:1 + d].transpose(0, 2, 1)
    parts = [g[:, None, :, 0], np.matmul(dx, g1)]
    if order == 2:
        g2 = g[:, :, 1 + d:].transpose(0, 2, 1)
        parts[1] = parts[1] + np.matmul(jet[:, :, 1 + d:], g2)
        parts.append(np.matmul(dx * dx, g2))
    return parts


def jet_input_cotangent(jet, g, parts, edges):
    """d(loss)/d(input jet) from the edges' derivatives f', f'' (and f^(3)), each
    [batch, in, out], and ``jet_parts``: the value channel sums f^(m+1) a_m; d(dx) =
    sum_q f' g1 + 2 f'' g2 dx; d(d2x) = sum_q f' g2."""
    order = len(parts) - 1
    d = (jet.shape[2] - 1) // order
    value = np.einsum("bpq,bq->bp", edges[0], g[:, :, 0])  # parts[0] is g0 on every input
    for edge, part in zip(edges[1:], parts[1:]):
        value += np.einsum("bpq,bpq->bp", edge, part)
    first = np.matmul(edges[0], g[:, :, 1:1 + d])
    channels = [value[:, :, None], first]
    if order == 2:
        g2 = g[:, :, 1 + d:]
        channels[1] = first + 2.0 * np.matmul(edges[1], g2) * jet[:, :, 1:1 + d]
        channels.append(np.matmul(edges[0], g2))
    return np.concatenate(channels, axis=2).astype(DTYPE, copy=False)


def jet_vjp_coef(parts, bases):
    """dcoef[p, q, i] = sum_b sum_m B^(m)_i(x_p) a_m[b, p, q] (bases: B .. B^(order), parts:
    ``jet_parts``): per input and level one GEMM over the batch."""
    grad = sum(np.matmul(basis.transpose(1, 2, 0), part.transpose(1, 0, 2))
               for basis, part in zip(bases, parts))  # [in, n_b, out]
    return grad.transpose(0, 2, 1).astype(DTYPE, copy=False)


def jet_vjp_input(jet, parts, bases, g, weights):
    """d(loss)/d(input jet) of a jet layer (bases: B' .. B^(order + 1))."""
    n_in, n_b = bases[0].shape[1:]
    w = weights.reshape(n_in, n_b, -1)
    return jet_input_cotangent(jet, g, parts, [edge_sums(basis, w) for basis in bases])


def jet_base_vjp_weight(fns, parts):
    """dw[p, q] = sum_b sum_m silu^(m)(x_p) a_m[b, p, q]."""
    return sum(np.matmul(fn.T[:, None, :], part.transpose(1, 0, 2))[:, 0, :]
               for fn, part in zip(fns, parts))


def jet_base_vjp_input(jet, fns, w, parts, g):
    edges = [fn[:, :, None] * w for fn in fns[1:len(parts) + 1]]
    return jet_input_cotangent(jet, g, parts, edges)


def vjp_jet_channel(jet, g, output, channel):
    """The cotangent of jet[:, output, channel]: g there, zeros elsewhere."""
    out = np.zeros_like(jet)
    out[:, output, channel] = g[:, 0]
    return out
'''

LANGUAGE = Language(
    title="NumPy reference module",
    imports=("import numpy as np",),
    dtypes={"f32": "np.float32", "f64": "np.float64"},
    syntax=SYNTAX,
    runtime=RUNTIME,
    training_runtime=TRAINING_RUNTIME,
)

PHYSICS_RUNTIME = '''


def check_named_inputs(inputs):
    """Each input of INPUTS as a DTYPE array of (rows, *its shape) (a point set's columns,
    or a precomputed input jet); inputs that share a row symbol have equal rows."""
    arrays, rows = {}, {}
    for name, shape in INPUTS.items():
        if name not in inputs:
            raise KeyError(f"inputs has no {name!r} (expected: {list(INPUTS)})")
        value = np.asarray(inputs[name], dtype=DTYPE)
        if value.shape[1:] != shape or value.ndim == 0 or value.shape[0] == 0:
            raise ValueError(f"inputs[{name!r}] must have shape (rows > 0, "
                             f"{', '.join(map(str, shape))}), got {value.shape}")
        symbol = INPUT_ROWS[name]
        if rows.setdefault(symbol, value.shape[0]) != value.shape[0]:
            raise ValueError(f"inputs[{name!r}] has {value.shape[0]} rows, but other inputs "
                             f"of its point set have {rows[symbol]}")
        arrays[name] = value
    return arrays
'''
