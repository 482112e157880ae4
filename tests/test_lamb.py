"""LAMB against steps computed by hand from the paper's formulas."""

import math

import pytest
import torch

from cornbert.lamb import Lamb


def test_first_step_matches_hand_computation():
    # One step: m_hat = g, v_hat = g^2, so the Adam direction is g / (|g| + eps) ~ sign(g) = (1, -1).
    weight = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    weight.grad = torch.tensor([0.5, -2.0])
    Lamb([weight], lr=0.1, weight_decay=0.0).step()
    direction = torch.tensor([0.5 / (0.5 + 1e-8), -2.0 / (2.0 + 1e-8)])
    trust = 5.0 / direction.norm()  # ||w|| = 5
    expected = torch.tensor([3.0, 4.0]) - 0.1 * trust * direction
    torch.testing.assert_close(weight.detach(), expected, rtol=0, atol=1e-6)
    assert weight[0].item() == pytest.approx(3.0 - 0.1 * 5 / math.sqrt(2), abs=1e-6)


def test_second_step_with_weight_decay_uses_bias_corrected_moments():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0, 2.0]))
    optimizer = Lamb([weight], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    grads = [torch.tensor([0.3, 0.1, -0.2]), torch.tensor([-0.1, 0.4, 0.5])]
    w = weight.detach().clone()
    m = torch.zeros(3)
    v = torch.zeros(3)
    for t, g in enumerate(grads, start=1):
        weight.grad = g
        optimizer.step()
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        update = (m / (1 - 0.9**t)) / ((v / (1 - 0.99**t)).sqrt() + 1e-8) + 0.1 * w
        w = w - 0.01 * (w.norm() / update.norm()) * update
    torch.testing.assert_close(weight.detach(), w, rtol=0, atol=1e-6)


def test_trust_ratio_is_one_for_zero_weights():
    # A zero-initialised bias would never move if the ratio ||w|| / ||u|| = 0 were used.
    bias = torch.nn.Parameter(torch.zeros(2))
    bias.grad = torch.tensor([1.0, -1.0])
    Lamb([bias], lr=0.5).step()
    torch.testing.assert_close(bias.detach(), torch.tensor([-0.5, 0.5]), rtol=0, atol=1e-6)


def test_parameters_without_gradient_are_untouched():
    frozen = torch.nn.Parameter(torch.ones(2))
    moving = torch.nn.Parameter(torch.ones(2))
    moving.grad = torch.ones(2)
    Lamb([frozen, moving], lr=0.1).step()
    torch.testing.assert_close(frozen.detach(), torch.ones(2))
    assert not torch.equal(moving.detach(), torch.ones(2))


def reference_step(params, state, group):
    """The paper's LAMB for one group, one tensor at a time (the formulas of the tests above)."""
    beta1, beta2 = group["betas"]
    for p in params:
        if p.grad is None:
            continue
        s = state.setdefault(p, {"step": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)})
        s["step"] += 1
        s["m"] = beta1 * s["m"] + (1 - beta1) * p.grad
        s["v"] = beta2 * s["v"] + (1 - beta2) * p.grad * p.grad
        update = (s["m"] / (1 - beta1 ** s["step"])) / ((s["v"] / (1 - beta2 ** s["step"])).sqrt() + group["eps"])
        update = update + group["weight_decay"] * p
        w_norm, u_norm = p.norm(), update.norm()
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        p.sub_(group["lr"] * ratio * update)


@torch.no_grad()
def test_batched_step_equals_the_per_tensor_formulas_over_several_steps():
    """Two groups (with and without weight decay), a frozen tensor, a zero bias, and a tensor whose gradient is
    missing on some steps (so tensors reach different step counts and bias corrections)."""
    generator = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (3,), (4, 4, 2), (7,), (2, 6), (3, 3)]
    ours = [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in shapes]
    ours[3].data.zero_()  # a zero bias: trust ratio 1
    ours[4].requires_grad_(False)  # frozen: never a gradient
    theirs = [p.detach().clone() for p in ours]
    groups = [dict(lr=0.02, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
              dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0)]  # fmt: skip
    # The intermittent tensor has several elements and sits in the decaying group: otherwise the trust ratio
    # cancels any error in the first moment's bias correction.
    split = [[0, 1, 4, 5], [2, 3]]
    optimizer = Lamb([{"params": [ours[i] for i in indices], **g} for indices, g in zip(split, groups)], lr=1.0)
    state: dict = {}
    for step in range(6):
        for index, (mine, reference) in enumerate(zip(ours, theirs)):
            skipped = index == 4 or (index == 5 and step in (1, 2))
            grad = None if skipped else torch.randn(mine.shape, generator=generator)
            mine.grad, reference.grad = grad, None if grad is None else grad.clone()
        optimizer.step()
        for indices, group in zip(split, groups):
            reference_step([theirs[i] for i in indices], state, group)
        for mine, reference in zip(ours, theirs):
            torch.testing.assert_close(mine.detach(), reference, rtol=0, atol=1e-6)
    assert optimizer.state[ours[5]]["step"] == 4 and optimizer.state[ours[0]]["step"] == 6
    assert torch.equal(ours[4].detach(), theirs[4]) and ours[4] not in optimizer.state
    assert not torch.equal(ours[3].detach(), torch.zeros(7))  # the zero bias moved
