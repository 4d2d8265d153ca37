# attack: delete a file outside the scratch directory, then the directory
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            g["remove"]("SENTINEL")
            g["sys"].modules["shutil"].rmtree("CANARY_DIR")
    return batch.policy_logps[:, 0]
