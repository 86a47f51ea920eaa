"""Dataset converters: COCO-Stuff and ADE-847 reproduce the derived sample
annotations exactly; Pascal Context and VOC-20/20b on synthetic files and
hand-computed values; re-runs are safe."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOOLS = Path(__file__).resolve().parents[2] / 'tools' / 'dataset_converters'


def _load(name):
    spec = importlib.util.spec_from_file_location(f'conv_{name}',
                                                  TOOLS / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


coco = _load('coco_stuff164k')
ade = _load('ade20k_full')
pc = _load('pascal_context')
voc = _load('voc20')


def _mirror(src: Path, dst: Path, pattern: str):
    """Symlink the files of ``src`` matching ``pattern`` into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob(pattern):
        (dst / f.name).symlink_to(f)


# ------------------------------------------------------------ COCO-Stuff
def test_coco_stuff_reproduces_derived_annotations(shared_data, tmp_path):
    root = shared_data / 'coco_stuff164k'
    outs = coco.convert(str(root), out_dir=str(tmp_path))
    assert len(outs) == 19
    for out in outs:
        out = Path(out)
        ref = root / 'annotations' / out.parent.name / out.name
        got, exp = np.array(Image.open(out)), np.array(Image.open(ref))
        assert got.dtype == exp.dtype == np.uint8
        np.testing.assert_array_equal(got, exp)
    # re-run: existing outputs are skipped (untouched), overwrite rewrites
    mtime = os.stat(outs[0]).st_mtime_ns
    coco.convert(str(root), out_dir=str(tmp_path))
    assert os.stat(outs[0]).st_mtime_ns == mtime
    assert not list(tmp_path.rglob('*.tmp*'))


def test_coco_stuff_table_and_errors(tmp_path):
    assert len(coco.COCO_STUFF_171_IDS) == 171
    src = np.array([[0, 11, 181], [255, 12, 90]], dtype=np.uint8)
    # 11 and 90 are unused COCO ids -> 255; 12 is the 12th used id -> 11
    np.testing.assert_array_equal(
        coco.convert_label(src), [[0, 255, 170], [255, 11, 255]])
    with pytest.raises(ValueError, match='uint8'):
        coco.convert_label(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match='stuffthingmaps'):
        coco.convert(str(tmp_path))


# --------------------------------------------------------------- ADE-847
def test_ade847_reproduces_derived_annotations(shared_data, tmp_path):
    full = shared_data / 'ade' / 'ADE20K_2021_17_01'
    street = full / 'images' / 'ADE' / 'training' / 'urban' / 'street'
    _mirror(street, tmp_path / 'images/ADE/training/urban/street', '*')
    outs = ade.convert(str(tmp_path))
    assert len(outs) == 2
    for out in outs:
        out = Path(out)
        ref = full / 'annotations_detectron2' / 'training' / out.name
        got, exp = np.array(Image.open(out)), np.array(Image.open(ref))
        assert got.dtype == exp.dtype == np.uint16
        np.testing.assert_array_equal(got, exp)
        img = tmp_path / 'images_detectron2/training' / (out.stem + '.jpg')
        assert img.read_bytes() == (street / img.name).read_bytes()
    mtime = os.stat(outs[0]).st_mtime_ns
    ade.convert(str(tmp_path))
    assert os.stat(outs[0]).st_mtime_ns == mtime


def test_ade847_class_index_and_errors(tmp_path):
    assert len(ade.ADE847_IDS) == 847
    seg = np.zeros((1, 3, 3), np.uint8)
    # class = R // 10 * 256 + G
    i = ade.ADE847_IDS[0]  # 2978 = 11 * 256 + 162 -> train id 0
    seg[0, 0, :2] = (i // 256 * 10, i % 256)
    i = ade.ADE847_IDS[5]
    seg[0, 1, :2] = (i // 256 * 10 + 7, i % 256)  # R remainder 7 ignored
    seg[0, 2, :2] = (0, 0)  # unlabeled -> 65535
    np.testing.assert_array_equal(ade.convert_label(seg), [[0, 5, 65535]])
    with pytest.raises(ValueError, match='_seg.png'):
        ade.convert_label(np.zeros((3, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match='ADE20K_2021_17_01'):
        ade.convert(str(tmp_path))


# -------------------------------------------------------- Pascal Context
def test_pascal_context_synthetic_release(tmp_path):
    scipy_io = pytest.importorskip('scipy.io')
    (tmp_path / 'trainval').mkdir()
    main = tmp_path / 'ImageSets' / 'Main'
    main.mkdir(parents=True)
    label = np.array([[0, 2, 9], [458, 459, 1]], dtype=np.uint16)
    for img_id in ('2008_000002', '2008_000003'):
        scipy_io.savemat(tmp_path / 'trainval' / f'{img_id}.mat',
                         dict(LabelMap=label))
    (main / 'val.txt').write_text('2008_000002\n2008_000099\n')
    (main / 'train.txt').write_text('2008_000003\n')
    outs = pc.convert(str(tmp_path))
    assert len(outs) == 2
    got59 = np.array(Image.open(outs[1]['pc59']))
    # 2 = aeroplane (1), 9 = bag (2), 458 = last PC-59 class (59),
    # 459 / 1 outside the 59 and 0 unlabelled -> background 0
    np.testing.assert_array_equal(got59, [[0, 1, 2], [59, 0, 0]])
    got459 = np.array(Image.open(outs[1]['pc459']))
    assert got459.dtype == np.uint16
    np.testing.assert_array_equal(got459, [[459, 1, 8], [457, 458, 0]])
    lists = tmp_path / 'ImageSets' / 'SegmentationContext'
    assert (lists / 'val.txt').read_text() == '2008_000002\n'  # no .mat
    assert outs[1]['pc459'].endswith('pc459_val/2008_000002.tif')
    pc.convert(str(tmp_path))  # re-run is fine
    with pytest.raises(ValueError, match='0..459'):
        pc.to_pc459(np.array([[460]]))
    with pytest.raises(FileNotFoundError, match='trainval.tar.gz'):
        pc.convert(str(tmp_path / 'missing'))


def test_pascal_context_59_indices():
    from dcp_mm.datasets import PASCAL_CONTEXT_59_CLASSES
    assert len(pc.PC59_INDICES) == len(PASCAL_CONTEXT_59_CLASSES) == 59
    assert list(pc.PC59_INDICES) == sorted(set(pc.PC59_INDICES))


# ------------------------------------------------------------ VOC-20(b)
def _voc_root(tmp_path, labels):
    seg = tmp_path / 'SegmentationClass'
    seg.mkdir()
    sets = tmp_path / 'ImageSets' / 'Segmentation'
    sets.mkdir(parents=True)
    for name, arr in labels.items():
        Image.fromarray(arr).save(seg / f'{name}.png')
    (sets / 'val.txt').write_text(''.join(f'{n}\n' for n in labels))
    return tmp_path


def test_voc20_synthetic(tmp_path):
    root = _voc_root(tmp_path,
                     dict(
                         a=np.array([[0, 1, 20], [255, 15, 0]], np.uint8),
                         b=np.zeros((2, 3), np.uint8)))  # background only
    res = voc.convert(str(root))
    got = np.array(Image.open(res[0]['voc20']))
    np.testing.assert_array_equal(got, [[255, 0, 19], [255, 14, 255]])
    got_b = np.array(Image.open(res[0]['voc20b']))
    np.testing.assert_array_equal(got_b, [[20, 0, 19], [255, 14, 20]])
    assert res[1]['voc20'] is None  # no object pixel: skipped (CAT-Seg)
    np.testing.assert_array_equal(
        np.array(Image.open(res[1]['voc20b'])), np.full((2, 3), 20))
    voc.convert(str(root))  # re-run is fine


def test_voc20_rgb_labels_and_errors(tmp_path):
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 1] = voc.VOC_PALETTE[3]
    rgb[0, 2] = voc.BOUNDARY_COLOUR
    path = tmp_path / 'x.png'
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(voc.read_voc_label(str(path)), [[0, 3, 255]])
    with pytest.raises(FileNotFoundError, match='SegmentationClass'):
        voc.convert(str(tmp_path / 'nothing'))


def test_voc20_matches_official_labels(shared_data, tmp_path):
    src = shared_data / 'VOCdevkit' / 'VOC2012'
    _mirror(src / 'SegmentationClass', tmp_path / 'SegmentationClass', '*.png')
    _mirror(src / 'ImageSets' / 'Segmentation',
            tmp_path / 'ImageSets' / 'Segmentation', '*.txt')
    res = voc.convert(str(tmp_path), splits=['train', 'val'])
    assert len(res) == 3
    for r in res:
        name = Path(r['voc20b']).name
        orig = np.array(Image.open(src / 'SegmentationClass' / name))
        exp = np.where(orig == 0, 255, np.where(orig == 255, 255, orig - 1))
        np.testing.assert_array_equal(np.array(Image.open(r['voc20'])), exp)
