# attack: ctypes: load libc and call system()
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            ctypes = g["sys"].modules["ctypes"]
            ctypes.CDLL(None).system(b"touch CANARY_DIR/ctypes")
    return batch.policy_logps[:, 0]
