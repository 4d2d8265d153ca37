import torch.nn.functional as F


def smooth_ipo(batch, beta: float):
    """Our own: IPO's target margin 1/(2 beta), but a softplus on each side instead of a square, so far-off
    pairs pull with a bounded force: softplus(z - 1/2) + softplus(1/2 - z) with z = beta * rho."""
    rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])
    z = beta * rho
    return F.softplus(z - 0.5) + F.softplus(0.5 - z)
