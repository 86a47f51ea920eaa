"""mIoU for open-vocabulary benchmarks on top of mmseg's ``IoUMetric``."""
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from PIL import Image
from prettytable import PrettyTable

ABSENT_CLASS_MODES = ('mmseg', 'detectron2')
DEFAULT_IGNORE_INDEX = 255
PIXEL_RECALL_WARNING = 50.0
"""Pixel recall (percent) below which the selection bounds mIoU (warned)."""


@METRICS.register_module()
class OVIoUMetric(IoUMetric):
    """mmseg ``IoUMetric`` with the conventions of the OVSS benchmarks.

    Intersections and unions come from mmseg's
    :meth:`IoUMetric.intersect_and_union` and
    :meth:`IoUMetric.total_area_to_metrics`; this class adds:

    * **Per-dataset ignore index.** ``ignore_index=None`` (default) takes
      ``dataset_meta['ignore_index']`` (65535 for ADE20K-847, 459 for
      Pascal Context-459, set by the dcp_mm datasets), else 255. An explicit
      int wins over the metainfo.
    * **Absent-class convention** (``absent_classes``). Both conventions
      accumulate the same per-class intersection ``I_c``, union ``U_c`` and
      GT area ``G_c`` over the whole dataset (ignored pixels excluded), and
      agree on aAcc (= detectron2 pACC) and mAcc (classes with ``G_c = 0``
      are NaN in both). They differ in which classes enter the mean IoU:

      - ``'mmseg'``: ``IoU_c = I_c / U_c``, mean over classes with
        ``U_c > 0`` (``np.nanmean``). A class that is predicted somewhere
        but has no GT pixel in the whole dataset has ``I_c = 0, U_c > 0``
        and counts as IoU 0 (mmseg ``IoUMetric``).
      - ``'detectron2'``: mean over classes with ``G_c > 0`` only
        (detectron2 ``SemSegEvaluator.evaluate``: ``iou_valid =
        (pos_gt > 0) & (union > 0)``, facebookresearch/detectron2
        ``detectron2/evaluation/sem_seg_evaluation.py``, which CAT-Seg, SED
        and DCP-CLIP report). Such a class gets NaN instead of 0, so it
        neither lowers nor raises the mean; its false-positive pixels still
        lower the IoU of the true classes (they are in those classes' GT
        area). The same mask is applied to the other per-class values (Dice,
        Fscore, Precision, Recall) so that every mean is over the classes
        present in the GT.

      With ``T`` = 459 or 847 categories many classes are absent from a
      split and predicted somewhere, so the two mIoUs differ noticeably;
      ``'detectron2'`` is the one comparable with the papers.
    * **Prediction remap** for protocols that query more names than they
      evaluate: if ``dataset_meta['pred_remap']`` (a sequence of length
      ``len(classes)`` with values in ``[0, len(eval_classes))``) is present,
      predicted index ``k`` is replaced by ``pred_remap[k]``, and the
      metric is computed over ``dataset_meta['eval_classes']``. VOC-20b
      (:class:`~dcp_mm.datasets.PascalVOC20bDataset`): 59 names queried,
      predictions >= 20 -> 20 ('background'), 21 evaluated classes, as
      CAT-Seg's ``VOCbEvaluator`` (``pred[pred >= 20] = 20``).
    * **Selection diagnostics.** When the predictions carry the metainfo
      key ``selected_categories`` (the names of the categories that reached
      the decoder, set by :class:`~dcp_mm.models.OpenVocabEncoderDecoder`),
      the metrics also hold ``meanK`` (mean number of selected categories
      per image), ``catRecall`` (mean over images with labelled pixels of
      the share of the image's GT categories that were selected, percent)
      and ``pixRecall`` (share of all labelled pixels whose GT category was
      selected, percent). Names map to indices through
      ``dataset_meta['classes']`` (and ``pred_remap`` when present). A
      pixel whose category was not selected cannot be predicted right, so
      aAcc <= pixRecall; below 50 % a warning says that mIoU is bounded by
      the selection (compare with ``tools/test.py --selection oracle``).
      Samples without the key (other segmentors) give no diagnostics.
    * **Input checks** (ValueError, naming ``seg_map_path``): a GT value
      outside ``[0, num_eval_classes)`` that is not the ignore index; a
      prediction index ``>= len(classes)`` or ``seg_logits`` with more
      channels than ``len(classes)``; prediction and GT of different sizes.

    Args:
        ignore_index (int, optional): Ignored GT value; None = from
            ``dataset_meta['ignore_index']``, else 255. Default: None.
        iou_metrics (Sequence[str]): Subset of 'mIoU', 'mDice', 'mFscore'.
            Default: ('mIoU', ).
        absent_classes (str): 'mmseg' or 'detectron2' (see above).
            Default: 'mmseg'.
        nan_to_num (int, optional): As mmseg (replaces NaN per-class values
            before averaging). Not allowed with ``'detectron2'``, where it
            would put the excluded classes back into the mean.
            Default: None.
        beta (int): F-score beta. Default: 1.
        collect_device (str): 'cpu' or 'gpu'. Default: 'cpu'.
        output_dir (str, optional): Where to write predictions as PNG
            (uint8, or uint16 when the label values do not fit into uint8).
            Default: None.
        format_only (bool): Only write predictions. Default: False.
        prefix (str, optional): Metric name prefix. Default: None.

    Shapes (per data sample):
        pred_sem_seg.data: (1, H, W) or (H, W), ints in [0, len(classes)).
        seg_logits.data (optional): (C, H, W) with C <= len(classes).
        gt_sem_seg.data: (1, H, W), ints in [0, num_eval_classes) or
        ``ignore_index``.

    Raises:
        ValueError: unknown ``absent_classes`` or ``iou_metrics``,
            ``nan_to_num`` with ``'detectron2'``, inconsistent
            ``pred_remap``/``eval_classes`` metainfo, bad inputs (above), or
            a ``selected_categories`` name that is not in
            ``dataset_meta['classes']``.
    """

    def __init__(self,
                 ignore_index: Optional[int] = None,
                 iou_metrics: Sequence[str] = ('mIoU', ),
                 absent_classes: str = 'mmseg',
                 nan_to_num: Optional[int] = None,
                 beta: int = 1,
                 collect_device: str = 'cpu',
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        if absent_classes not in ABSENT_CLASS_MODES:
            raise ValueError(f'absent_classes must be one of '
                             f'{ABSENT_CLASS_MODES}, got {absent_classes!r}')
        if isinstance(iou_metrics, str):
            iou_metrics = [iou_metrics]
        allowed = {'mIoU', 'mDice', 'mFscore'}
        if not set(iou_metrics) <= allowed:
            raise ValueError(f'iou_metrics {list(iou_metrics)} must be a '
                             f'subset of {sorted(allowed)}')
        if absent_classes == 'detectron2' and nan_to_num is not None:
            raise ValueError(
                "nan_to_num cannot be combined with absent_classes="
                "'detectron2': it would count the classes without GT "
                'pixels in the mean again; use one or the other')
        if ignore_index is not None and (not isinstance(ignore_index, int)
                                         or ignore_index < 0):
            raise ValueError('ignore_index must be None or a non-negative '
                             f'int, got {ignore_index!r}')
        super().__init__(
            ignore_index=ignore_index,
            iou_metrics=list(iou_metrics),
            nan_to_num=nan_to_num,
            beta=beta,
            collect_device=collect_device,
            output_dir=output_dir,
            format_only=format_only,
            prefix=prefix,
            **kwargs)
        self.absent_classes = absent_classes

    # ------------------------------------------------------------------
    # dataset conventions
    def _meta(self) -> dict:
        meta = self.dataset_meta
        if not meta or 'classes' not in meta:
            raise ValueError(
                'OVIoUMetric needs dataset_meta with "classes" (set by the '
                'evaluator from the dataset metainfo, or assign '
                'metric.dataset_meta = dict(classes=...) yourself)')
        return meta

    def resolved_ignore_index(self) -> int:
        """The ignore index in use: argument > metainfo > 255."""
        if self.ignore_index is not None:
            return self.ignore_index
        meta = self.dataset_meta or {}
        return int(meta.get('ignore_index', DEFAULT_IGNORE_INDEX))

    def eval_classes(self) -> Tuple[str, ...]:
        """Names of the evaluated classes (``eval_classes`` or ``classes``).
        """
        meta = self._meta()
        return tuple(meta.get('eval_classes') or meta['classes'])

    def _pred_lut(self) -> Optional[torch.Tensor]:
        """``pred_remap`` as a (len(classes), ) long tensor, or None."""
        meta = self._meta()
        remap = meta.get('pred_remap')
        if remap is None:
            return None
        num_pred, num_eval = len(meta['classes']), len(self.eval_classes())
        lut = torch.as_tensor(list(remap), dtype=torch.long)
        if lut.dim() != 1 or lut.numel() != num_pred:
            raise ValueError(
                f'dataset_meta pred_remap has {lut.numel()} entries but '
                f'there are {num_pred} classes; it needs one per class')
        if lut.numel() and (lut.min() < 0 or lut.max() >= num_eval):
            raise ValueError(
                f'dataset_meta pred_remap values must be in [0, {num_eval}) '
                '(the evaluated classes), got range '
                f'[{int(lut.min())}, {int(lut.max())}]')
        return lut

    # ------------------------------------------------------------------
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate per-class areas of one batch.

        Args:
            data_batch (dict): The batch (unused).
            data_samples (Sequence[dict]): Model outputs as dicts with
                ``pred_sem_seg``, ``gt_sem_seg`` and optionally
                ``seg_logits``, ``seg_map_path``, ``img_path``.
        """
        num_pred = len(self._meta()['classes'])
        num_eval = len(self.eval_classes())
        ignore = self.resolved_ignore_index()
        lut = self._pred_lut()
        for sample in data_samples:
            name = sample.get('seg_map_path') or sample.get(
                'img_path', 'a data sample')
            pred = sample['pred_sem_seg']['data'].squeeze()
            logits = sample.get('seg_logits')
            if logits is not None and logits['data'].shape[0] > num_pred:
                raise ValueError(
                    f'{name}: the prediction has '
                    f'{logits["data"].shape[0]} class channels but the '
                    f'dataset metainfo has {num_pred} classes; the model '
                    'vocabulary must be the dataset classes')
            wrong = pred[(pred < 0) | (pred >= num_pred)]
            if wrong.numel():
                raise ValueError(
                    f'{name}: predicted class index {int(wrong[0])} is '
                    f'outside [0, {num_pred}) (the dataset metainfo has '
                    f'{num_pred} classes); the model predicts more classes '
                    'than the dataset defines')
            pred = pred.long()
            if lut is not None:
                pred = lut.to(pred.device)[pred]
            if not self.format_only:
                label = sample['gt_sem_seg']['data'].squeeze().to(pred)
                if label.shape != pred.shape:
                    raise ValueError(
                        f'{name}: prediction {tuple(pred.shape)} and label '
                        f'{tuple(label.shape)} differ in size; the segmentor '
                        'must resize its output to ori_shape')
                valid = label[label != ignore]
                bad = valid[(valid < 0) | (valid >= num_eval)]
                if bad.numel():
                    raise ValueError(
                        f'{name}: label values '
                        f'{bad.unique()[:8].tolist()} are outside '
                        f'[0, {num_eval}) and not ignore_index={ignore}; '
                        'check the dataset type, reduce_zero_label and '
                        'ignore_index')
                areas = self.intersect_and_union(pred, label, num_eval, ignore)
                stats = self._selection_stats(sample, label, ignore, lut, name)
                self.results.append((*areas, stats))
            if self.output_dir is not None:
                self._save(pred, sample, num_eval)

    def _selection_stats(self, sample: dict, label: torch.Tensor, ignore: int,
                         lut: Optional[torch.Tensor],
                         name: str) -> torch.Tensor:
        """Selection counts of one image (NaN without the metainfo key).

        Returns:
            (5, ) float64: K, number of GT categories, number of them
            selected, labelled pixels, labelled pixels whose category was
            selected.
        """
        selected = sample.get('selected_categories')
        if selected is None:
            return torch.full((5, ), float('nan'), dtype=torch.float64)
        index = {c: i for i, c in enumerate(self._meta()['classes'])}
        unknown = [c for c in selected if c not in index]
        if unknown:
            raise ValueError(
                f'{name}: selected categories {unknown[:5]} are not in the '
                'dataset metainfo classes; the model vocabulary must be the '
                'dataset classes')
        sel = torch.as_tensor([index[c] for c in selected], dtype=torch.long)
        if lut is not None:
            sel = lut[sel]
        label = label[label != ignore].long().cpu()
        gt, counts = torch.unique(label, return_counts=True)
        hit = torch.isin(gt, sel)
        return torch.tensor([
            float(len(selected)),
            float(gt.numel()),
            float(hit.sum()),
            float(counts.sum()),
            float(counts[hit].sum())
        ],
                            dtype=torch.float64)

    @staticmethod
    def selection_metrics(stats: Sequence[torch.Tensor]) -> Dict[str, float]:
        """``meanK``, ``catRecall`` and ``pixRecall`` of per-image counts.

        Args:
            stats: (5, ) per-image counts of :meth:`_selection_stats`
                (images without selection information are NaN and skipped).

        Returns:
            dict (empty when no image has selection information): ``meanK``
            (2 decimals), ``catRecall`` (mean over images with GT categories
            of selected / GT categories) and ``pixRecall`` (selected /
            labelled pixels over the dataset), both in percent.
        """
        rows = [s for s in stats if not torch.isnan(s).any()]
        if not rows:
            return {}
        table = torch.stack(rows)
        k, n_gt, n_hit, n_px, n_px_hit = table.unbind(dim=1)
        has_gt = n_gt > 0
        cat = (n_hit[has_gt] / n_gt[has_gt]).mean() if has_gt.any() else \
            torch.tensor(float('nan'))
        pix = n_px_hit.sum() / n_px.sum() if n_px.sum() > 0 else \
            torch.tensor(float('nan'))
        return dict(
            meanK=round(float(k.mean()), 2),
            catRecall=round(float(cat) * 100, 2),
            pixRecall=round(float(pix) * 100, 2))

    def _save(self, pred: torch.Tensor, sample: dict, num_eval: int) -> None:
        basename = osp.splitext(osp.basename(sample['img_path']))[0]
        out = pred.cpu().numpy()
        if sample.get('reduce_zero_label', False):
            out = out + 1
        dtype = np.uint8 if num_eval + 1 <= 256 else np.uint16
        Image.fromarray(out.astype(dtype)).save(
            osp.abspath(osp.join(self.output_dir, f'{basename}.png')))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Dataset-level metrics from the accumulated areas.

        Args:
            results (list): ``(area_intersect, area_union, area_pred,
                area_label)`` tuples, each a (num_eval_classes, ) tensor,
                optionally followed by the (5, ) selection counts of
                :meth:`process`.

        Returns:
            dict[str, float]: 'aAcc', 'mIoU', 'mAcc' (and 'mDice', 'mFscore',
            'mPrecision', 'mRecall' if requested), in percent, 2 decimals;
            plus 'meanK', 'catRecall', 'pixRecall' (see
            :meth:`selection_metrics`) when the predictions named their
            selected categories.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'results are saved to {osp.dirname(self.output_dir)}')
            return OrderedDict()
        areas = tuple(zip(*results))
        assert len(areas) in (4, 5), \
            f'expected 4 area lists (+ selection counts), got {len(areas)}'
        total_i, total_u, total_p, total_l = (sum(a) for a in areas[:4])
        ret = self.total_area_to_metrics(total_i, total_u, total_p, total_l,
                                         self.metrics, self.nan_to_num,
                                         self.beta)
        if self.absent_classes == 'detectron2':
            absent = (torch.as_tensor(total_l) == 0).numpy()
            for key, value in ret.items():
                if key != 'aAcc':
                    value = value.copy()  # float, as mmseg's
                    value[absent] = np.nan
                    ret[key] = value
            if absent.any():
                print_log(
                    f'{int(absent.sum())} of {absent.size} classes have no '
                    'GT pixel and are left out of the means (detectron2)',
                    logger)
        metrics = dict()
        for key, value in ret.items():
            mean = round(float(np.nanmean(value.astype(np.float64))) * 100, 2)
            metrics[key if key == 'aAcc' else 'm' + key] = mean
        self._log_table(ret, logger)
        if len(areas) == 5:
            selection = self.selection_metrics(areas[4])
            metrics.update(selection)
            self._log_selection(selection, logger)
        return metrics

    @staticmethod
    def _log_selection(selection: Dict[str, float], logger: MMLogger) -> None:
        if not selection:
            return
        print_log(
            f'category selection: mean K {selection["meanK"]:.2f}, category '
            f'recall {selection["catRecall"]:.2f} %, pixel recall '
            f'{selection["pixRecall"]:.2f} %', logger)
        if selection['pixRecall'] < PIXEL_RECALL_WARNING:
            print_log(
                f'pixel recall {selection["pixRecall"]:.2f} % < '
                f'{PIXEL_RECALL_WARNING} %: the selector dropped the '
                'categories of most labelled pixels, which no decoder can '
                'predict, so mIoU is bounded by the selection, not the '
                'decoder (aAcc <= pixel recall); compare with '
                'tools/test.py --selection oracle',
                logger,
                level=logging.WARNING)

    def _log_table(self, ret: Dict[str, np.ndarray], logger: MMLogger) -> None:
        table = PrettyTable()
        table.add_column('Class', list(self.eval_classes()))
        for key, value in ret.items():
            if key != 'aAcc':
                table.add_column(key,
                                 [round(float(v) * 100, 2) for v in value])
        print_log('per class results:', logger)
        print_log('\n' + table.get_string(), logger=logger)
