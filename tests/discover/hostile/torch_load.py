# attack: torch.save a file outside scratch, torch.load it back (pickle)
# static: static
# runtime: forbidden
import torch


def my_loss(batch, beta):
    torch.save({"x": 1}, "CANARY_DIR/saved.pt")
    torch.load("CANARY_DIR/saved.pt", weights_only=False)
    return batch.policy_logps[:, 0]
