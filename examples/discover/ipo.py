def ipo(batch, beta: float):
    """IPO (Azar et al. 2023, Eq. 17), summed log-probs: (rho - 1/(2 beta))^2."""
    rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])
    return (rho - 1 / (2 * beta)) ** 2
