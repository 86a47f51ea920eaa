"""Segment your own images with your own words.

For every image: ``OUT_DIR/pred/<stem>.png`` (label map, value = index in
the vocabulary; 16-bit when T > 255) and ``OUT_DIR/vis/<stem>.png``
(overlay drawn by mmseg's ``SegLocalVisualizer`` with a legend of the
categories present). Prints, per image, the categories Dynamic Category
Selection passed to the decoder and those Tag Validation relabelled.

An image that cannot be processed (unreadable, or too small to draw) is
reported and skipped; the other images are still segmented.

Example::

    python tools/demo.py photo.jpg photos/ \\
        --checkpoint work_dirs/dcp/iter_80000.pth \\
        --vocabulary cat dog "tree, trees" sky --out-dir demo_out

(the model is built from the config saved in the checkpoint; ``--config``
gives another one, which the checkpoint must fit exactly).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence, Union

# isort: off
import dcp_mm  # noqa: F401  (compat shims; must precede mmseg)
from dcp_mm.apis import OVSegInferencer
from dcp_mm.models.utils.vocabulary import vocabulary_argument
# isort: on
import mmcv
import numpy as np
from mmengine.config import DictAction
from mmengine.utils import ProgressBar, mkdir_or_exist
from PIL import Image

LEGEND_WIDTH = 220
ROW_HEIGHT = 22


def draw_legend(visualizer, overlay: np.ndarray, names: Sequence[str],
                palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Append a white legend panel (one colour swatch + name per category)
    to an (H, W, 3) RGB overlay with the visualizer's drawing functions."""
    h, w = overlay.shape[:2]
    height = max(h, ROW_HEIGHT * (len(names) + 1))
    canvas = np.full((height, w + LEGEND_WIDTH, 3), 255, dtype=np.uint8)
    canvas[:h, :w] = overlay
    visualizer.set_image(canvas)
    for row, (name, colour) in enumerate(zip(names, palette)):
        y0 = 6 + row * ROW_HEIGHT
        box = np.array([[w + 8, y0, w + 26, y0 + 16]])
        visualizer.draw_bboxes(
            box,
            edge_colors=[tuple(colour)],
            face_colors=[tuple(colour)],
            alpha=1.0)
        visualizer.draw_texts(
            name[:28], np.array([w + 32, y0]), colors='black', font_sizes=11)
    return visualizer.get_image()


def render(inferencer: OVSegInferencer, image_path: str, pred,
           opacity: float) -> np.ndarray:
    """Overlay of the prediction + legend of the categories present."""
    vis = inferencer.visualizer
    meta = inferencer.model.dataset_meta
    vis.set_dataset_meta(list(meta['classes']), meta['palette'])
    vis.alpha = opacity
    img = mmcv.imread(image_path, channel_order='rgb')
    vis.add_datasample(
        osp.basename(image_path),
        img,
        pred,
        draw_gt=False,
        draw_pred=True,
        with_labels=False)
    overlay = vis.get_image()
    present = np.unique(pred.pred_sem_seg.data.cpu().numpy()).tolist()
    names = [meta['classes'][i] for i in present]
    colours = [meta['palette'][i] for i in present]
    return draw_legend(vis, overlay, names, colours)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Open-vocabulary segmentation of your own images')
    parser.add_argument('images', nargs='+', help='image files or folders')
    parser.add_argument(
        '--config',
        help='model config (omit: the config saved in --checkpoint)')
    parser.add_argument(
        '--checkpoint',
        help='checkpoint (omit: random weights, a warning; needs --config)')
    parser.add_argument(
        '--vocabulary',
        nargs='+',
        required=True,
        help='category names, or ONE text file with a name per line')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--opacity', type=float, default=0.6)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='config overrides, key=value')
    args = parser.parse_args(argv)
    if not 0 <= args.opacity <= 1:
        parser.error('--opacity must be in [0, 1]')
    if args.config is None and args.checkpoint is None:
        parser.error('give --checkpoint (its saved config is used), '
                     '--config, or both')
    return args


def segment_one(inferencer: OVSegInferencer, path: str, pred_dir: str,
                vis_dir: str, opacity: float, dtype) -> dict:
    """Segment one image, write its label map and overlay, print what DCS
    selected and TV relabelled; returns the demo's per-image dict."""
    pred = inferencer(path, return_datasamples=True)
    stem = osp.splitext(osp.basename(path))[0]
    label = pred.pred_sem_seg.data[0].cpu().numpy().astype(dtype)
    pred_path = osp.join(pred_dir, f'{stem}.png')
    vis_path = osp.join(vis_dir, f'{stem}.png')
    overlay = render(inferencer, path, pred, opacity)
    Image.fromarray(label).save(pred_path)
    mmcv.imwrite(overlay[..., ::-1], vis_path)
    selected = pred.metainfo.get('dcs_selected')
    relabel = pred.metainfo.get('tv_relabelled', {})
    print(f'\n{path}: DCS selected {selected}; TV relabelled '
          f'{relabel or "nothing"}')
    return dict(
        image=path,
        pred=pred_path,
        vis=vis_path,
        dcs_selected=selected,
        tv_relabelled=relabel)


def main(argv=None) -> List[dict]:
    """Run the demo; returns per processed image dict(image, pred, vis,
    dcs_selected, tv_relabelled), and per skipped image dict(image,
    error)."""
    args = parse_args(argv)
    vocab: Union[str, List[str]] = vocabulary_argument(args.vocabulary)
    inferencer = OVSegInferencer(
        args.config,
        weights=args.checkpoint,
        vocabulary=vocab,
        device=args.device,
        cfg_options=args.cfg_options)
    inferencer.show_progress = False
    images = inferencer._inputs_to_list(args.images)
    if not images:
        raise FileNotFoundError(f'no images found in {args.images}')
    pred_dir = osp.join(args.out_dir, 'pred')
    vis_dir = osp.join(args.out_dir, 'vis')
    mkdir_or_exist(pred_dir)
    mkdir_or_exist(vis_dir)
    dtype = np.uint8 if len(inferencer.vocabulary) <= 255 else np.uint16
    outputs: List[dict] = []
    skipped: List[dict] = []
    bar = ProgressBar(len(images))
    for path in images:
        error: Optional[str] = None
        try:
            outputs.append(
                segment_one(inferencer, path, pred_dir, vis_dir, args.opacity,
                            dtype))
        except Exception as err:  # noqa: B902  (reported, then skipped)
            error = f'{type(err).__name__}: {err}'
        if error is not None:
            print(
                f'\nskipped {path}: cannot be processed ({error})',
                file=sys.stderr)
            skipped.append(dict(image=path, error=error))
        bar.update()
    print(f'\nlabel maps in {pred_dir}, overlays in {vis_dir}')
    if skipped:
        print(
            f'{len(skipped)} of {len(images)} images skipped: ' +
            ', '.join(s['image'] for s in skipped),
            file=sys.stderr)
    return outputs + skipped


if __name__ == '__main__':
    main()
