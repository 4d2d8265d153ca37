import torch
import torch.nn.functional as F


def lrml(batch, beta: float):
    """DiscoPOP / LRML (Lu et al. 2024, Eq. 5): a sigmoid gate (tau = 0.05) blends the logistic and the
    exponential loss of z = beta * rho."""
    rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])
    z = beta * rho
    gate = torch.sigmoid(z / 0.05)
    return (1 - gate) * -F.logsigmoid(z) + gate * torch.exp(-z)
