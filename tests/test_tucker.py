"""Seed 004 groundwork: HOSVD of coefficient tensors and `kancc analyze --params`."""

import numpy as np
import pytest

import kancc
from kancc.cli import main
from kancc.errors import KanccError
from kancc.numerics.hosvd import (
    Tucker,
    discarded_energy,
    energy_rank,
    hosvd,
    mode_singular_values,
    tucker_ranks,
    unfold,
)
from kancc.storage.checkpoints import save_checkpoint


@pytest.mark.parametrize("shape", [(5, 7, 8), (1, 3, 4), (16, 9, 11), (3, 1, 2)])
def test_full_rank_hosvd_reproduces_the_tensor(shape):
    rng = np.random.default_rng(sum(shape))
    tensor = rng.normal(size=shape)
    tucker = hosvd(tensor, shape)
    np.testing.assert_allclose(tucker.full(), tensor, atol=1e-12)
    for factor in tucker.factors:
        np.testing.assert_allclose(factor.T @ factor, np.eye(factor.shape[1]), atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_truncated_hosvd_error_is_bounded_by_the_discarded_energy(seed):
    """||W - W_hat||^2 <= sum of the discarded squared mode singular values, on random
    tensors of random shapes and ranks (and near-low-rank ones, where it is tight)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(2, 12, size=3))
    ranks = tuple(int(rng.integers(1, d + 1)) for d in shape)
    if seed % 2:
        low = hosvd(rng.normal(size=shape), ranks).full()
        tensor = low + 1e-3 * rng.normal(size=shape)
    else:
        tensor = rng.normal(size=shape)
    error = np.sum((tensor - hosvd(tensor, ranks).full()) ** 2)
    bound = discarded_energy(tensor, ranks)
    assert error <= bound * (1 + 1e-10) + 1e-24
    assert error >= max(np.sum(s[r:] ** 2) for s, r in
                        zip(mode_singular_values(tensor), ranks)) * (1 - 1e-10)


def test_mode_singular_values_are_those_of_the_unfoldings():
    rng = np.random.default_rng(3)
    tensor = rng.normal(size=(4, 5, 6))
    for mode, values in enumerate(mode_singular_values(tensor)):
        matrix = unfold(tensor, mode)
        assert matrix.shape[0] == tensor.shape[mode]
        np.testing.assert_allclose(values ** 2, np.sort(np.linalg.eigvalsh(matrix @ matrix.T)
                                                        )[::-1], rtol=1e-10, atol=1e-12)
    assert energy_rank(np.array([3.0, 1.0, 0.1])) == 2
    assert energy_rank(np.array([1.0, 0.0])) == 1


def test_ranks_from_a_compression_ratio_and_bad_ranks():
    assert tucker_ranks((64, 32, 8), cr=0.5) == (32, 16, 4)
    assert tucker_ranks((64, 32, 8), cr=1 / 8) == (8, 4, 1)
    assert tucker_ranks((5, 3, 7), cr=0.3) == (2, 1, 3)  # ceil
    for cr, message in ((0, "cr must be in"), (1.5, "cr must be in"), (-1, "cr must be in")):
        with pytest.raises(KanccError, match=message):
            tucker_ranks((4, 4, 4), cr=cr)
    with pytest.raises(KanccError, match="basis rank 9 is larger than the mode's size 8"):
        tucker_ranks((4, 4, 8), ranks=(2, 2, 9))
    with pytest.raises(KanccError, match="not both"):
        tucker_ranks((4, 4, 4), ranks=(1, 1, 1), cr=0.5)
    with pytest.raises(KanccError, match="NaN"):
        hosvd(np.full((2, 2, 2), np.nan), (1, 1, 1))


def test_analyze_prints_the_mode_singular_values_of_a_checkpoint(tmp_path, capsys):
    spec = kancc.load_spec("examples/cubic_2_5_1.toml")
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=(2, 1)), rng.normal(size=(5, 1))
    w = rng.normal(size=(1, 1, spec.layers[0].n_basis))
    params = kancc.compile(spec).init_params(0)
    params["layers.0.coef"] = np.einsum("pa,qb,abi->pqi", u, v, w)  # Tucker rank (1, 1, 1)
    save_checkpoint(tmp_path / "c.npz", spec, params)
    assert main(["analyze", "examples/cubic_2_5_1.toml", "--params",
                 str(tmp_path / "c.npz")]) == 0
    out = capsys.readouterr().out
    assert "layer 0: coefficients (2, 5, 11); ranks for 99% of the energy: in 1/2, out 1/5, " \
           "basis 1/10" in out  # mode 3 unfolds to 11 x 10: 10 values
    assert "sigma_in / sigma_max: 1 " in out
    assert main(["analyze", str(tmp_path / "c.npz")]) == 0  # the checkpoint as SPEC
    assert "ranks for 99% of the energy: in 1/2, out 1/5" in capsys.readouterr().out
    other = tmp_path / "other.toml"
    other.write_text("[model]\nlayers = [3, 1]\n")
    assert main(["analyze", str(other), "--params", str(tmp_path / "c.npz")]) == 2
    assert "does not match the spec" in capsys.readouterr().err


def test_tucker_full_and_gradient_equal_the_four_operand_sums():
    """Mode-by-mode products against the direct einsum of their definitions, at ranks below
    and at the mode sizes (odd sizes)."""
    rng = np.random.default_rng(7)
    for dims, ranks in (((5, 7, 3), (2, 3, 2)), ((4, 3, 6), (4, 3, 6))):
        core = rng.standard_normal(ranks)
        factors = tuple(rng.standard_normal((d, r)) for d, r in zip(dims, ranks))
        tucker = Tucker(core, factors)
        u1, u2, u3 = factors
        np.testing.assert_allclose(tucker.full(), np.einsum("abc,pa,qb,ic->pqi", core, *factors),
                                   rtol=1e-12, atol=1e-12)
        d = rng.standard_normal(dims)
        expected = (np.einsum("pqi,pa,qb,ic->abc", d, u1, u2, u3),
                    np.einsum("pqi,abc,qb,ic->pa", d, core, u2, u3),
                    np.einsum("pqi,abc,pa,ic->qb", d, core, u1, u3),
                    np.einsum("pqi,abc,pa,qb->ic", d, core, u1, u2))
        for got, want in zip(tucker.gradient(d), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
