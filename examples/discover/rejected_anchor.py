import torch.nn.functional as F


def rejected_anchor(batch, beta: float):
    """Our own: DPO plus a small penalty that keeps the rejected response's log-ratio from falling far below
    the reference (a guard against likelihood displacement): -logsig(beta * rho) + 0.1 relu(-beta * rho_l - 1)."""
    rho_w = batch.policy_logps[:, 0] - batch.ref_logps[:, 0]
    rho_l = batch.policy_logps[:, 1] - batch.ref_logps[:, 1]
    return -F.logsigmoid(beta * (rho_w - rho_l)) + 0.1 * F.relu(-beta * rho_l - 1)
