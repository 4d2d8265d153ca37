# attack: write a file outside the scratch directory (open from the real builtins)
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            f = g["__builtins__"]["open"]("CANARY_DIR/written.txt", "w")
            f.write("escaped")
            f.close()
    return batch.policy_logps[:, 0]
