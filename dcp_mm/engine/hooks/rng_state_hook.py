"""Save torch's RNG state in checkpoints and restore it on resume."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``--resume`` exact for models that draw random numbers.

    mmengine restores weights, optimizer, schedulers, message hub and the
    seed, and replays the data loader up to the resumed iteration (which
    reproduces the NumPy / ``random`` streams of the data pipeline), but
    not the global torch RNG the model consumes in training (dropout,
    drop-path, random sampling): a resumed run would draw different masks
    from the uninterrupted one. This hook stores
    ``torch.get_rng_state()`` (and the CUDA states) in the checkpoint under
    ``'dcp_rng_state'`` and sets them back at the first training iteration
    after a resume (after mmengine has replayed the data loader, whose
    main-process transforms use NumPy, not torch).

    The states are uint8 tensors: they load with ``weights_only=True``.
    Checkpoints without the key (older runs) resume as before; a checkpoint
    given as ``load_from`` (training restarts at iteration 0) is not used.
    """

    priority = 'VERY_LOW'
    KEY = 'dcp_rng_state'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(cpu=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint[self.KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(self.KEY)
        it = checkpoint.get('meta', {}).get('iter')
        self._pending = None if state is None else dict(state, iter=it)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        if runner.iter != state['iter']:  # load_from (fine-tuning): no
            return
        torch.set_rng_state(state['cpu'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['cuda'])
