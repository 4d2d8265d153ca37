"""The rating methods and interval kinds ``rate`` accepts (here, so the command line lists them without
loading scipy)."""

METHODS = ("bt", "davidson", "elo")
INTERVALS = ("sandwich", "hessian", "bootstrap", "none")
