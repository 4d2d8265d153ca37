# attack: open a socket and connect to a server on this machine
# static: static
# runtime: import
import socket


def my_loss(batch, beta):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", PORT))
    s.sendall(b"escaped")
    return batch.policy_logps[:, 0]
