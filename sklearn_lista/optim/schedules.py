"""Learning-rate schedules: what the training loop does when progress stalls.

The loop counts the epochs (or full-batch steps) since the monitored loss
last improved and asks the schedule, after each, whether to restore the best
parameters and shrink the learning rate. The stopping rules stay in the loop
(`n_iter_no_change`, :attr:`min_learning_rate` of the schedule).
"""


class ConstantSchedule:
    """Keep the learning rate (the divergence guard may still shrink it).

    Attributes
    ----------
    min_learning_rate : float
        Fraction of the initial learning rate below which training stops.
    """

    min_learning_rate = 1e-8

    def on_stall(self, n_stalled):
        """Factor to shrink the learning rate by after `n_stalled` epochs
        without improvement (None: keep it), and whether to reset the count."""
        return None, False

    def __repr__(self):
        return f"{type(self).__name__}()"


class PlateauSchedule(ConstantSchedule):
    """Restore the best parameters and shrink the step on a plateau.

    Parameters
    ----------
    patience : int, default=2
        Epochs without improvement that make a plateau.
    factor : float, default=0.5
        The learning rate is multiplied by `factor` at each plateau.
    reset : bool, default=False
        Whether a plateau resets the count of epochs without improvement (then
        only `min_learning_rate` ends training).
    min_learning_rate : float, default=1e-8
        Fraction of the initial learning rate below which training stops.
    """

    def __init__(self, patience=2, factor=0.5, reset=False, min_learning_rate=1e-8):
        self.patience = patience
        self.factor = factor
        self.reset = reset
        self.min_learning_rate = min_learning_rate

    def on_stall(self, n_stalled):
        if n_stalled and n_stalled % self.patience == 0:
            return self.factor, self.reset
        return None, False

    def __repr__(self):
        return (
            f"PlateauSchedule(patience={self.patience}, factor={self.factor}, "
            f"reset={self.reset})"
        )


SCHEDULES = {"constant": ConstantSchedule, "adaptive": PlateauSchedule}
