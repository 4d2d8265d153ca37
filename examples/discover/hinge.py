import torch.nn.functional as F


def slic_hinge(batch, beta: float):
    """SLiC-HF's calibration hinge on the reference-normalized margin: relu(1 - beta * rho)."""
    rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])
    return F.relu(1 - beta * rho)
