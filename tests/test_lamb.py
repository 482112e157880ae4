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
