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


def check_lengths(n: int, per: str, **sequences: object) -> None:
    """Refuse sequences that do not have ``n`` entries.

    Example: ``check_lengths(3, 'stage of decoder_dims', guidance_dims=g)``.

    Raises:
        ValueError: ``'<name> needs <n> entries (one per <per>), got [...]'``
            for the first offending keyword.
    """
    for name, seq in sequences.items():
        if len(seq) != n:
            raise ValueError(f'{name} needs {n} entries (one per {per}), got '
                             f'{list(seq)}')


def check_weights_set_once(**part_cfgs: dict) -> None:
    """Refuse ``pretrained`` inside a CLIP tower's config: the segmentor
    sets the weights of both towers once (``model.pretrained``).

    Raises:
        ValueError: ``'set the CLIP weights once with model.pretrained,
            not in model.<name>'`` for the first offending part.
    """
    for name, cfg in part_cfgs.items():
        if cfg.get('pretrained'):
            raise ValueError('set the CLIP weights once with '
                             f'model.pretrained, not in model.{name}')
