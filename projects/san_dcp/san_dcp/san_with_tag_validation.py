"""SAN with DCP-CLIP's Tag Validation as its test-time post-processor."""
from typing import List, Optional

import torch.nn.functional as F
from mmseg.models.segmentors import MultimodalEncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptSampleList, SampleList, get_classes
from torch import Tensor

from dcp_mm.models.utils.vocabulary import (VocabularyLike, load_vocabulary,
                                            seen_category_mask)
from .san_clip_embeddings import (DENSE_MODES, san_class_names,
                                  san_clip_embeds, san_clip_inputs,
                                  san_text_embeds)


@MODELS.register_module()
class SANWithTagValidation(MultimodalEncoderDecoder):
    """mmseg's SAN whose predictions are re-checked by ``DCPTagValidator``.

    Training, ``inference`` and ``postprocess_result`` are SAN's own
    (``MultimodalEncoderDecoder``), untouched. ``predict`` then applies the
    post-processor to every image exactly as dcp_mm's
    ``OpenVocabEncoderDecoder.predict`` does: ``pred_sem_seg`` (1, H, W) is
    replaced by the validator's output and the metainfo key
    ``tv_relabelled`` maps each relabelled category name to its new name.

    What TV receives, all from SAN's own CLIP towers:

    * ``pred``: SAN's ``pred_sem_seg`` (1, H, W), labels in [0, T).
    * ``dense_embeds`` (1, D, h, w): :func:`san_clip_embeds` on the image
      encoder's last output: SAN's frozen CLIP ViT run to the end (the
      ``rec_with_attnbias`` blocks without [SOS] tokens or attention bias,
      then ``ln_post`` and ``proj``), dense path ``dense_mode``. This is one
      extra CLIP pass per batch at test time, on the same encoder input as
      SAN's (``encoder_resolution`` x the batch; in ``'slide'`` mode the
      whole image resized to ``test_cfg.crop_size``).
    * ``text_embeds`` (T, D): SAN's ``CLIPTextEncoder`` output without the
      background row, L2-normalised (:func:`san_text_embeds`).
    * ``seen`` (T,): :func:`~dcp_mm.models.utils.vocabulary.
      seen_category_mask` of the test class names against the training
      (seen) vocabulary, given as ``train_vocabulary`` (names or a file) or
      ``train_dataset_name`` (an mmseg dataset name, as SAN's text encoder).

    Args:
        post_processor: config of the post-processor
            (``dict(type='DCPTagValidator', top_k=5)``); required.
        train_vocabulary: the seen categories: a list of names or a text
            file (``dcp_mm`` ``load_vocabulary``).
        train_dataset_name: the seen categories as an mmseg dataset name
            (``'coco-stuff164k'``); exactly one of the two must be given.
        dense_mode: ``'maskclip'`` (default, as dcp_mm's CLIP backbone) or
            ``'plain'``, see :func:`san_clip_embeds`.
        **kwargs: ``MultimodalEncoderDecoder`` arguments (SAN's config).

    Raises:
        ValueError: no post-processor, not exactly one seen vocabulary, or
            an unknown ``dense_mode``.
    """

    def __init__(self,
                 *,
                 post_processor: OptConfigType = None,
                 train_vocabulary: Optional[VocabularyLike] = None,
                 train_dataset_name: Optional[str] = None,
                 dense_mode: str = 'maskclip',
                 **kwargs) -> None:
        if post_processor is None:
            raise ValueError(
                'SANWithTagValidation needs model.post_processor, e.g. '
                "dict(type='DCPTagValidator'); use MultimodalEncoderDecoder "
                'for plain SAN.')
        if (train_vocabulary is None) == (train_dataset_name is None):
            raise ValueError(
                'give exactly one of train_vocabulary (names or a file) and '
                'train_dataset_name (an mmseg dataset name): the categories '
                'SAN was trained on are the seen ones.')
        if dense_mode not in DENSE_MODES:
            raise ValueError(f'dense_mode must be one of {DENSE_MODES}, got '
                             f'{dense_mode!r}')
        super().__init__(**kwargs)
        self.post_processor = MODELS.build(post_processor)
        self.dense_mode = dense_mode
        if train_dataset_name is not None:
            train_vocabulary = list(get_classes(train_dataset_name))
        self.train_vocabulary: List[str] = load_vocabulary(train_vocabulary)

    # (B, 3, H, W) -> the image encoder's input, as SAN's encode_decode
    clip_inputs = san_clip_inputs

    def dense_embeds(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) -> dense CLIP embeddings (B, D, h, w) of the image.

        ``'whole'`` mode: the batch as SAN's encoder sees it; ``'slide'``:
        the whole image resized to ``test_cfg.crop_size`` first.
        """
        if self.test_cfg.mode == 'slide':
            inputs = F.interpolate(
                inputs,
                tuple(self.test_cfg.crop_size),
                mode='bilinear',
                align_corners=False)
        feats = self.image_encoder(self.clip_inputs(inputs))
        _, dense = san_clip_embeds(self.decode_head.rec_with_attnbias,
                                   feats[-1], self.dense_mode)
        return dense

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """SAN's prediction, then Tag Validation per image.

        Args:
            inputs: (B, 3, H, W) preprocessed images.
            data_samples: SegDataSamples with metainfo, or None.

        Returns:
            SegDataSamples with ``seg_logits`` (T, H, W) (SAN's scores),
            ``pred_sem_seg`` (1, H, W) after TV, and metainfo
            ``tv_relabelled`` ({old name: new name}).
        """
        results = super().predict(inputs, data_samples)
        dense = self.dense_embeds(inputs)  # (B, D, h, w)
        vocab = san_class_names(self.text_encoder)
        seen = seen_category_mask(vocab, self.train_vocabulary)
        text_avg = san_text_embeds(self.text_encoder)  # (T, D)
        assert text_avg.shape[0] == len(vocab), \
            f'{text_avg.shape[0]} text embeddings for {len(vocab)} names'
        return self.post_processor.validate_samples(results, dense, text_avg,
                                                    seen, vocab)
