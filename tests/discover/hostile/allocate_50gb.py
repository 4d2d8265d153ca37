# attack: allocate 50 GB
# static: memory
# runtime: memory
import torch


def my_loss(batch, beta):
    hog = torch.ones(50 * 2**30 // 4)
    return batch.policy_logps[:, 0] * hog[0]
