"""Free-vocabulary inference on your own images and words."""
import os.path as osp
import warnings
import zlib
from typing import Dict, List, Optional, Sequence, Union

import mmengine
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmseg.apis import MMSegInferencer
from mmseg.structures import SegDataSample
from PIL import Image

from ..engine.cfg_options import check_cfg_options
from ..engine.model_checkpoint import (config_from_checkpoint,
                                       load_model_checkpoint)
from ..models.utils.vocabulary import VocabularyLike, load_vocabulary

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]

#: label-loading transforms removed from the test pipeline
_LABEL_LOADERS = ('LoadAnnotations', 'LoadOVAnnotations',
                  'LoadDepthAnnotation')


def vocabulary_palette(names: Sequence[str]) -> List[List[int]]:
    """One RGB colour per name, a function of the name only (CRC-32 seed):
    a category keeps its colour when the vocabulary changes."""
    palette = []
    for name in names:
        rng = np.random.RandomState(zlib.crc32(name.encode('utf-8')))
        palette.append(rng.randint(0, 256, size=3).tolist())
    return palette


class OVSegInferencer(MMSegInferencer):
    """Open-vocabulary segmentation inferencer (mmseg ``MMSegInferencer``
    conventions) for dcp_mm segmentors (``OpenVocabEncoderDecoder``).

    Config + checkpoint + vocabulary (a list of names, or a text file with
    one name per line; comma-separated synonyms allowed). Inputs: image
    paths, folders, (H, W, 3) BGR uint8 arrays, or lists of these. Outputs
    (``__call__``): ``dict(predictions=label map(s) (H, W) int,
    visualization=..., dcs_selected=[names per image],
    tv_relabelled=[{old name: new name} per image])``, or the
    ``SegDataSample`` (s) with ``return_datasamples=True`` (``seg_logits``
    (T, H, W), ``pred_sem_seg`` (1, H, W) with values in [0, T), metainfo
    ``dcs_selected`` and ``tv_relabelled``).

    The vocabulary can change between calls (``vocabulary=`` of
    :meth:`__call__` or :meth:`set_vocabulary`); text embeddings are never
    stale because the text encoder caches by (vocabulary, templates, weight
    hash). ``dcs_selected``: the categories Dynamic Category Selection
    (or any selector; all T without one) passed to the decoder, as the
    segmentor records them (metainfo ``selected_categories``; in
    ``mode='slide'`` the union over the windows and the global view).

    The checkpoint must fit the model exactly (every key, every shape): a
    checkpoint of another model, template count or head is an error naming
    the keys and the differing settings (see
    :mod:`dcp_mm.engine.model_checkpoint`).

    Args:
        model: config file path, Config or dict of a dcp_mm segmentor; None:
            the config saved in the checkpoint ``weights``.
        weights: checkpoint path; None keeps random weights (warning). The
            config's ``model.pretrained`` is ignored (no downloads).
        vocabulary: names or a text file; None: the checkpoint's training
            vocabulary (its seen categories).
        palette: RGB colours, one per category; default
            :func:`vocabulary_palette`.
        device: e.g. 'cpu' / 'cuda:0'; None picks one.
        scope: registry scope ('mmseg').
        cfg_options: dict merged into the config before the model is built
            (unknown keys are an error, see
            :func:`~dcp_mm.engine.cfg_options.check_cfg_options`).

    Raises:
        CheckpointMismatchError: the checkpoint does not fit the model.
        CfgOptionsError: unknown ``cfg_options`` keys.
        ValueError: no vocabulary (neither given nor in the checkpoint), or
            a palette whose length differs from the vocabulary.
        FileNotFoundError: a missing vocabulary file.
    """

    forward_kwargs: set = {'mode', 'out_dir'}

    def __init__(self,
                 model: Optional[Union[str, Config, ConfigDict, dict]],
                 weights: Optional[str] = None,
                 vocabulary: Optional[VocabularyLike] = None,
                 palette: Optional[Sequence[Sequence[int]]] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = 'mmseg',
                 cfg_options: Optional[dict] = None) -> None:
        if model is None:
            if weights is None:
                raise ValueError('give a model config, a checkpoint '
                                 '(weights=) holding its config, or both')
            model = config_from_checkpoint(weights)
        elif isinstance(model, str):
            if not osp.isfile(model):
                raise FileNotFoundError(f'config file {model} not found')
            model = Config.fromfile(model)
        elif isinstance(model, dict) and not isinstance(model, Config):
            model = Config(dict(model))
        if cfg_options:
            check_cfg_options(model, cfg_options)
            model = Config(
                model.to_dict() if isinstance(model, Config) else dict(model))
            model.merge_from_dict(cfg_options)
        self._user_palette = palette
        super().__init__(
            model=model, weights=weights, device=device, scope=scope)
        self.show_progress = True
        if vocabulary is None:
            vocabulary = self.model.train_vocabulary
            if vocabulary is None:
                raise ValueError(
                    'no vocabulary: pass vocabulary=[names] or a text file, '
                    'or a checkpoint that stores its training vocabulary.')
        self.set_vocabulary(vocabulary, palette)

    # ------------------------------------------------------------ vocabulary
    @property
    def vocabulary(self) -> List[str]:
        """The current test vocabulary (T names)."""
        return list(self.model.test_vocabulary)

    def set_vocabulary(
            self,
            vocabulary: VocabularyLike,
            palette: Optional[Sequence[Sequence[int]]] = None) -> None:
        """Segment with these T categories from now on.

        Raises:
            ValueError: bad vocabulary, or ``len(palette) != T``.
            FileNotFoundError: a missing vocabulary file.
        """
        names = load_vocabulary(vocabulary)
        if palette is None:
            palette = vocabulary_palette(names)
        if len(palette) != len(names):
            raise ValueError(f'palette has {len(palette)} colours for a '
                             f'vocabulary of {len(names)} names')
        self.model.set_vocabulary(names, 'test')
        self.model.dataset_meta = dict(
            classes=tuple(names), palette=[list(c) for c in palette])

    # --------------------------------------------------------------- model
    def _load_weights_to_model(self, model: torch.nn.Module,
                               checkpoint: Optional[dict],
                               cfg: Optional[Config]) -> None:
        """Load the weights strictly (and the training vocabulary from the
        checkpoint's meta); classes come from the vocabulary, not from the
        checkpoint."""
        if checkpoint is not None:
            load_model_checkpoint(
                model,
                checkpoint,
                cfg.get('model') if cfg is not None else None,
                strict=True,
                source='the checkpoint (weights)')
        else:
            warnings.warn('no checkpoint given: the segmentor has RANDOM '
                          'weights, predictions are meaningless.')
        model.dataset_meta = dict(classes=None, palette=None)

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The config's test pipeline without label loading; images come
        from paths or arrays (mmseg ``InferencerLoader``)."""
        pipeline = [
            dict(t) for t in cfg.test_dataloader.dataset.pipeline
            if t['type'] not in _LABEL_LOADERS
        ]
        idx = self._get_transform_idx(pipeline, 'LoadImageFromFile')
        if idx == -1:
            raise ValueError('LoadImageFromFile is not in the test pipeline')
        pipeline[idx]['type'] = 'InferencerLoader'
        return Compose(pipeline)

    def _inputs_to_list(self, inputs: InputsType) -> list:
        """Paths, folders (their images, sorted) and arrays -> flat list.

        Raises:
            FileNotFoundError: a path that does not exist.
        """
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        flat = []
        for item in inputs:
            if isinstance(item, str) and osp.isdir(item):
                flat += [
                    osp.join(item, f) for f in sorted(
                        mmengine.scandir(
                            item,
                            suffix=('.jpg', '.jpeg', '.png', '.bmp', '.tif',
                                    '.tiff'),
                            case_sensitive=False))
                ]
            elif isinstance(item, str):
                if not osp.isfile(item):
                    raise FileNotFoundError(f'image {item} not found')
                flat.append(item)
            elif isinstance(item, np.ndarray):
                flat.append(item)
            else:
                raise TypeError(f'unsupported input {type(item)}: give image '
                                'paths, folders or (H, W, 3) arrays')
        return flat

    # ------------------------------------------------------------- forward
    def __call__(self,
                 inputs: InputsType,
                 vocabulary: Optional[VocabularyLike] = None,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 **kwargs) -> Union[dict, SegDataSample, List[SegDataSample]]:
        """Segment ``inputs``; ``vocabulary`` (optional) replaces the
        current one first. Other arguments: see ``MMSegInferencer``."""
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, self._palette_for(vocabulary))
        return super().__call__(
            inputs,
            return_datasamples=return_datasamples,
            batch_size=batch_size,
            **kwargs)

    def _palette_for(self, vocabulary: VocabularyLike):
        names = load_vocabulary(vocabulary)
        pal = self._user_palette
        return pal if pal is not None and len(pal) == len(names) else None

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> List[SegDataSample]:
        """``model.test_step``; copies the segmentor's metainfo
        ``selected_categories`` (the categories that reached the decoder)
        to ``dcs_selected``."""
        preds = self.model.test_step(inputs)
        for pred in preds:
            if 'selected_categories' in pred.metainfo:
                pred.set_metainfo(dict(dcs_selected=pred.selected_categories))
        return preds

    # --------------------------------------------------------- postprocess
    def postprocess(
        self,
        preds: List[SegDataSample],
        visualization: Optional[List[np.ndarray]],
        return_datasample: bool = False,
        pred_out_dir: str = ''
    ) -> Union[dict, SegDataSample, List[SegDataSample]]:
        """As ``MMSegInferencer.postprocess`` (label maps as uint8 PNG, or
        16-bit PNG when T > 255), plus ``dcs_selected`` and
        ``tv_relabelled`` lists (one entry per image)."""
        if return_datasample:
            return preds[0] if len(preds) == 1 else preds
        result: Dict[str, list] = dict(
            predictions=[],
            visualization=[],
            dcs_selected=[],
            tv_relabelled=[])
        dtype = np.uint8 if len(self.vocabulary) <= 255 else np.uint16
        for i, pred in enumerate(preds):
            label = pred.pred_sem_seg.data[0].cpu().numpy()
            result['predictions'].append(label)
            result['dcs_selected'].append(pred.metainfo.get('dcs_selected'))
            result['tv_relabelled'].append(
                pred.metainfo.get('tv_relabelled', {}))
            if visualization is not None:
                result['visualization'].append(visualization[i])
            if pred_out_dir != '':
                mmengine.mkdir_or_exist(pred_out_dir)
                name = str(self.num_pred_imgs).zfill(8) + '_pred.png'
                Image.fromarray(label.astype(dtype)).save(
                    osp.join(pred_out_dir, name))
            self.num_pred_imgs += 1
        if len(preds) == 1:
            for key in ('predictions', 'dcs_selected', 'tv_relabelled'):
                result[key] = result[key][0]
            if visualization is not None:
                result['visualization'] = result['visualization'][0]
        return result
