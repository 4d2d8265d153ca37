# attack: walk from a builtin to os.system: ().__class__.__base__.__subclasses__()
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            c.__init__.__globals__["system"]("touch CANARY_DIR/attribute_walk")
    return batch.policy_logps[:, 0]
