# attack: read the environment through torch's os module and leak it in an error message
# static: static
# runtime: forbidden
import torch


def my_loss(batch, beta):
    raise ValueError("LEAK " + repr(dict(torch.os.environ)))
