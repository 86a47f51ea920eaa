"""Argument checks shared by the registered modules' constructors."""


def check_positive_ints(**values: object) -> None:
    """Refuse any value that is not a positive int (bool is not an int here).

    Example: ``check_positive_ints(cost_dims=128, num_heads=4)``.

    Raises:
        ValueError: ``'<name> must be a positive int, got <value>'`` for the
            first offending keyword.
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f'{name} must be a positive int, got {value!r}')
