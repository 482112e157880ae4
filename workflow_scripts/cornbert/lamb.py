"""LAMB (You et al. 2019): Adam's direction, rescaled per parameter tensor by the trust ratio ||w|| / ||update||.

Written here because the maintained libraries either pull an incompatible torch (timm) or default to other
mechanics (torch-optimizer: eps 1e-6, no bias correction, clamped ratio). This follows the paper: bias-corrected
moments, decoupled weight decay inside the update, ratio 1 where either norm is 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Lamb(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._update(params, group)
        return loss

    def _update(self, params: list[torch.Tensor], group: dict) -> None:
        """One step for a group's parameters, with every tensor op batched over the list (torch._foreach_*):
        a Python loop per tensor spends more time launching small ops than computing (~100 tensors per model)."""
        beta1, beta2 = group["betas"]
        grads = [p.grad for p in params]
        states = [self.state[p] for p in params]
        for param, state in zip(params, states):
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["step"] += 1
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        # Steps differ between tensors when some had no gradient at earlier steps (frozen, then unfrozen).
        bias1 = [1 - beta1 ** s["step"] for s in states]
        bias2 = [1 - beta2 ** s["step"] for s in states]

        torch._foreach_mul_(exp_avgs, beta1)
        torch._foreach_add_(exp_avgs, grads, alpha=1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
        denominators = torch._foreach_div(exp_avg_sqs, bias2)  # v_hat
        torch._foreach_sqrt_(denominators)
        torch._foreach_add_(denominators, group["eps"])
        updates = torch._foreach_div(exp_avgs, bias1)  # m_hat
        torch._foreach_div_(updates, denominators)
        del denominators
        if group["weight_decay"]:
            torch._foreach_add_(updates, params, alpha=group["weight_decay"])

        weight_norms = torch.stack(torch._foreach_norm(params))  # [tensors]
        update_norms = torch.stack(torch._foreach_norm(updates))  # [tensors]
        trust_ratios = torch.where(
            (weight_norms > 0) & (update_norms > 0), weight_norms / update_norms, torch.ones_like(weight_norms)
        )
        torch._foreach_mul_(updates, list((-group["lr"] * trust_ratios).unbind()))
        torch._foreach_add_(params, updates)
