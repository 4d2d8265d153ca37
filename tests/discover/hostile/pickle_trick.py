# attack: unpickle a payload whose reduce calls os.system
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            payload = b"cos\nsystem\n(S'touch CANARY_DIR/pickle'\ntR."
            g["sys"].modules["pickle"].loads(payload)
    return batch.policy_logps[:, 0]
