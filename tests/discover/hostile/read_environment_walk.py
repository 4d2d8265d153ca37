# attack: read the environment through the real os module and leak it (it must be empty)
# static: static
# runtime: exception
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            raise ValueError("LEAK " + repr(dict(g["environ"])) + repr(g["sys"].modules["os"].getenv("HOME")))
    return batch.policy_logps[:, 0]
