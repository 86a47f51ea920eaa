"""mmengine Runner whose post-init weight sync skips non-tensor state."""
import torch
from mmengine.dist import broadcast
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import RUNNERS


@RUNNERS.register_module()
class OVSegRunner(Runner):
    """mmengine ``Runner`` that can train models with non-tensor state.

    After ``init_weights`` mmengine 0.10.7 broadcasts every
    ``model.state_dict()`` entry from rank 0 (``Runner._init_model_weights``)
    and fails with ``TypeError: data should be a Tensor, sequence of tensor
    or dict, but got None`` on ``_extra_state`` entries, such as the
    training vocabulary (a list of names or None) that
    ``OpenVocabEncoderDecoder`` keeps in its checkpoints. This runner
    broadcasts the tensor entries only (the same tensors mmengine syncs;
    the extra state is derived from the config, identical on every rank).
    Everything else is mmengine's ``Runner``. Select it with
    ``runner_type = 'OVSegRunner'``.
    """

    def _init_model_weights(self) -> None:
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        if hasattr(model, 'init_weights'):
            model.init_weights()
            # sync params and buffers (tensors only)
            for value in model.state_dict().values():
                if isinstance(value, torch.Tensor):
                    broadcast(value)
