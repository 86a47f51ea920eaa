"""ImageFolderPromptSource: sorted files of each category folder, first M,
fingerprint follows the files."""
import mmcv
import numpy as np
import pytest
from mmseg.registry import MODELS


def _write(root, name, n, size=(6, 5)):
    folder = root / name
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.full((*size, 3), 10 * i, dtype=np.uint8)
        img[..., 0] = 200  # red channel (RGB order after loading)
        mmcv.imwrite(img[..., ::-1], str(folder / f'{i}.png'))


def test_reads_first_m_images_in_order(tmp_path):
    _write(tmp_path, 'cat', 3)
    _write(tmp_path, 'traffic light', 1)
    _write(tmp_path, 'a_b', 1)  # the folder of the name 'a/b'
    source = MODELS.build(
        dict(type='ImageFolderPromptSource', root=str(tmp_path)))
    out = source(['cat', 'dog', 'traffic light', 'a/b'], 2)
    assert [len(o) for o in out] == [2, 0, 1, 1]
    img, mask = out[0][1]
    assert img.shape == (6, 5, 3) and mask.all()
    assert img[0, 0].tolist() == [200, 10, 10]  # RGB, second file
    fp = source.fingerprint(['cat'])
    _write(tmp_path, 'dog', 1)
    assert source.fingerprint(['cat']) == fp
    assert source.fingerprint(['cat', 'dog']) != source.fingerprint(['cat'])


def test_bad_root(tmp_path):
    with pytest.raises(ValueError, match='root must be'):
        MODELS.build(dict(type='ImageFolderPromptSource', root=''))
    source = MODELS.build(
        dict(type='ImageFolderPromptSource', root=str(tmp_path / 'none')))
    with pytest.raises(ValueError, match='does not exist'):
        source(['cat'], 1)
