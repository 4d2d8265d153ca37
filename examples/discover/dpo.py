import torch.nn.functional as F


def dpo(batch, beta: float):
    """DPO (Rafailov et al. 2023, Eq. 7): -logsig(beta * rho)."""
    rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])
    return -F.logsigmoid(beta * rho)
