# attack: a traceback's frames lead to the trusted callers and their globals (os)
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    try:
        1 / 0
    except ZeroDivisionError as e:
        frame = e.__traceback__.tb_frame
    while frame is not None:
        if "os" in frame.f_globals:
            frame.f_globals["os"].system("touch CANARY_DIR/frame")
        frame = frame.f_back
    return batch.policy_logps[:, 0]
