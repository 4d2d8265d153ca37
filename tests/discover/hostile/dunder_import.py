# attack: __import__('os') and run a shell command
# static: static
# runtime: import
def my_loss(batch, beta):
    __import__("os").system("touch CANARY_DIR/dunder_import")
    return batch.policy_logps[:, 0]
