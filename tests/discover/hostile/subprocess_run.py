# attack: subprocess: run a command
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            sp = g["sys"].modules["subprocess"]
            sp.run(["touch", "CANARY_DIR/subprocess"])
    return batch.policy_logps[:, 0]
