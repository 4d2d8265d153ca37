# attack: sleep forever (no CPU used: only the wall clock ends it)
# static: static
# runtime: timeout
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            g["sys"].modules["time"].sleep(10**9)
    return batch.policy_logps[:, 0]
