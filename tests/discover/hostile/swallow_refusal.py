# attack: catch the refusal and carry on as a valid loss (the refusal is recorded anyway)
# static: static
# runtime: import
import torch.nn.functional as F


def my_loss(batch, beta):
    try:
        import os
        os.system("touch CANARY_DIR/swallow")
    except BaseException:
        pass
    pi, ref = batch.policy_logps, batch.ref_logps
    return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))
