# attack: an endless loop (the static check lets it through; the CPU limit or the wall clock stops it)
# static: cpu|timeout
# runtime: cpu|timeout
def my_loss(batch, beta):
    n = 0
    while True:
        n = n + 1
    return batch.policy_logps[:, 0]
