# attack: print gigabytes to stdout
# static: output
# runtime: output
def my_loss(batch, beta):
    chunk = "x" * (1 << 20)
    for i in range(4096):
        print(chunk)
    return batch.policy_logps[:, 0]
