"""The torch.autograd.Function of each forward layer of a training graph, as source lines:
forward runs the layer's kernel, backward its compiled vjp kernels. The vjp kernels have no
derivative of their own, so under create_graph the backward's results pass through the
runtime's ``first_order``: differentiating them again (a second derivative through torch
autograd) raises instead of returning a wrong number."""

from __future__ import annotations


def layer_function(layer: int, vjp_input: int | None, vjp_coef: int | None,
                   jet: bool = False) -> list[str]:
    """A torch.autograd.Function running layer ``layer`` and its compiled vjp kernels
    (no vjp_coef: the coefficients are frozen); ``jet``: a jet layer (kan.jet_layer), whose
    kernels are jet_layer_, vjp_jet_input_ and vjp_jet_coef_."""
    kind = "jet_" if jet else ""
    if vjp_coef is None:
        dcoef = ['            raise RuntimeError("the coefficients of this layer are frozen")']
    else:
        dcoef = [f"            dcoef = vjp_{kind}coef_{vjp_coef}(x, g, ctx.deterministic)"]
    if vjp_input is None:
        dx = ['            raise RuntimeError("compiled without d/dx of the model input: "',
              '                               "use autodiff{wrt=params+input}")']
    else:
        dx = [f"            dx = vjp_{kind}input_{vjp_input}(x, coef, g)"]
    return [
        "", "",
        f"class {'Jet' if jet else ''}Layer{layer}(torch.autograd.Function):",
        f'    """{kind}layer_{layer} forward; backward by '
        + " and ".join(f"{name}_{index}" for name, index in
                       ((f"vjp_{kind}coef", vjp_coef), (f"vjp_{kind}input", vjp_input))
                       if index is not None)
        + '."""',
        "",
        "    @staticmethod",
        "    def forward(ctx, x, coef, deterministic):",
        "        ctx.save_for_backward(x, coef)",
        "        ctx.deterministic = deterministic",
        f"        return {kind}layer_{layer}(x, coef)",
        "",
        "    @staticmethod",
        "    def backward(ctx, g):",
        "        x, coef = ctx.saved_tensors",
        "        dx = dcoef = None",
        "        if ctx.needs_input_grad[0]:",
        *dx,
        "        if ctx.needs_input_grad[1]:",
        *dcoef,
        "        return first_order((dx, dcoef, None), (x, coef, g))",
    ]


def tucker_function(layer: int, vjp: int, want_dx: bool) -> list[str]:
    """A torch.autograd.Function running Tucker layer ``layer`` and its compiled vjp."""
    if want_dx:
        dx = ["        dcore, du1, du2, du3, dx = grads"]
    else:
        dx = ["        dcore, du1, du2, du3 = grads",
              "        dx = None",
              "        if ctx.needs_input_grad[0]:",
              '            raise RuntimeError("compiled without d/dx of the model input: "',
              '                               "use autodiff{wrt=params+input}")']
    return [
        "", "",
        f"class Layer{layer}(torch.autograd.Function):",
        f'    """tucker_{layer} forward; backward by tucker_vjp_{vjp}."""',
        "",
        "    @staticmethod",
        "    def forward(ctx, x, core, u1, u2, u3, deterministic):",
        "        ctx.save_for_backward(x, core, u1, u2, u3)",
        "        ctx.deterministic = deterministic",
        f"        return tucker_{layer}(x, core, u1, u2, u3)",
        "",
        "    @staticmethod",
        "    def backward(ctx, g):",
        f"        grads = tucker_vjp_{vjp}(*ctx.saved_tensors, g.contiguous(), "
        "ctx.deterministic)",
        *dx,
        "        return first_order((dx, dcore, du1, du2, du3, None), (*ctx.saved_tensors, g))",
    ]
