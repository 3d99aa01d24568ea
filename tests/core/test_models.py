"""The MLP's hand-written tangent pass is an exact Jacobian-vector product."""

import pytest
import torch

from meanflow.core.models import ACTIVATIONS, MLP, pick_device


@pytest.mark.parametrize(
    ("activation", "frequencies", "space_frequencies"),
    [(a, 0, 0) for a in ACTIVATIONS] + [("silu", 3, 0), ("silu", 0, 2), ("silu", 3, 2)],
)
def test_tangent_pass_equals_torch_func_jvp(activation, frequencies, space_frequencies):
    """forward_with_tangent must equal torch.func.jvp to float64 precision (with the time columns' and
    the state columns' Fourier features too)."""
    g = torch.Generator().manual_seed(0)
    net = MLP(
        4, 2, 32, 3, activation, g, (2, 2), frequencies, space_columns=(0, 2), space_frequencies=space_frequencies
    ).double()
    x = torch.randn(17, 4, generator=g, dtype=torch.float64)
    x_dot = torch.randn(17, 4, generator=g, dtype=torch.float64)
    y, y_dot = net.forward_with_tangent(x, x_dot)
    y_ref, y_dot_ref = torch.func.jvp(net, (x,), (x_dot,))
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(y_dot, y_dot_ref, rtol=1e-10, atol=1e-10)


def test_tangent_pass_equals_finite_difference():
    """The tangent must match a central finite difference of the forward pass."""
    g = torch.Generator().manual_seed(1)
    net = MLP(3, 2, hidden=16, depth=4, generator=g).double()
    x = torch.randn(9, 3, generator=g, dtype=torch.float64)
    x_dot = torch.randn(9, 3, generator=g, dtype=torch.float64)
    eps = 1e-6
    fd = (net(x + eps * x_dot) - net(x - eps * x_dot)) / (2 * eps)
    _, y_dot = net.forward_with_tangent(x, x_dot)
    torch.testing.assert_close(y_dot, fd, rtol=1e-6, atol=1e-8)


def test_fourier_features_widen_the_first_layer_and_store_nothing():
    """Two time columns, 3 frequencies: 12 more input columns; the frequencies are not weights."""
    plain, fourier = MLP(5, 2, 16, 2), MLP(5, 2, 16, 2, time_columns=(2, 2), frequencies=3)
    assert plain.layers[0].in_features == 5 and fourier.layers[0].in_features == 5 + 12
    assert fourier.state_dict().keys() == plain.state_dict().keys()
    x = torch.zeros(1, 5)
    x[0, 2] = 0.5
    expanded, _ = fourier._fourier(x)
    torch.testing.assert_close(expanded[0, 5:8], torch.sin(torch.pi * torch.tensor([0.5, 1.0, 2.0])))


def test_state_fourier_features_follow_the_time_features():
    """Two state columns at 2 frequencies add 8 columns after the time columns' 12: sin(2^j z), cos(2^j z)."""
    net = MLP(5, 2, 16, 2, time_columns=(2, 2), frequencies=3, space_columns=(0, 2), space_frequencies=2)
    assert net.layers[0].in_features == 5 + 12 + 8 and net.state_dict().keys() == MLP(5, 2, 16, 2).state_dict().keys()
    x = torch.zeros(1, 5)
    x[0, 0], x[0, 1] = 0.3, -0.7
    expanded, _ = net._fourier(x)
    angles = torch.tensor([0.3, 0.6, -0.7, -1.4])  # (z0 at 1, 2), (z1 at 1, 2)
    torch.testing.assert_close(expanded[0, 17:21], angles.sin())
    torch.testing.assert_close(expanded[0, 21:25], angles.cos())


def test_tangent_has_no_graph_but_primal_does():
    """The tangent is stop-gradient by construction; the primal output keeps its graph."""
    net = MLP(3, 2, hidden=8, depth=2)
    y, y_dot = net.forward_with_tangent(torch.randn(5, 3), torch.randn(5, 3))
    assert y.requires_grad and not y_dot.requires_grad


def test_same_generator_same_weights_and_depth_counts_hidden_layers():
    """Same seed must give identical weights; depth D means D hidden layers plus an output layer."""
    a = MLP(4, 2, 64, 4, generator=torch.Generator().manual_seed(5))
    b = MLP(4, 2, 64, 4, generator=torch.Generator().manual_seed(5))
    assert len(a.layers) == 5
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_bad_architecture_is_refused():
    with pytest.raises(ValueError, match="accepted: silu, gelu"):
        MLP(4, 2, 8, 2, activation="relu6")
    with pytest.raises(ValueError):
        MLP(4, 2, 0, 2)


def test_pick_device_prefers_cuda_only_when_present():
    """auto gives CUDA exactly when torch sees a GPU; asking for CUDA without one is a clear error."""
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            pick_device("cuda")
