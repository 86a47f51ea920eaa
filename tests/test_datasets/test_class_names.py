import json

import pytest

from dcp_mm.datasets import class_names

EXPECTED = {
    'COCO_STUFF_171_CLASSES': ('catseg_coco.json', 171),
    'ADE20K_150_CLASSES': ('catseg_ade150.json', 150),
    'ADE20K_847_CLASSES': ('catseg_ade847.json', 847),
    'PASCAL_CONTEXT_59_CLASSES': ('catseg_pc59.json', 59),
    'PASCAL_CONTEXT_459_CLASSES': ('catseg_pc459.json', 459),
    'PASCAL_VOC_20_CLASSES': ('catseg_voc20.json', 20),
    'PASCAL_VOC_20B_CLASSES': ('catseg_voc20b.json', 59),
}


@pytest.mark.parametrize('var', sorted(EXPECTED))
def test_embedded_tuples(var):
    names = getattr(class_names, var)
    assert isinstance(names, tuple)
    assert len(names) == EXPECTED[var][1]
    assert len(set(names)) == len(names), 'duplicate class names'
    assert all(isinstance(n, str) and n.strip() for n in names)


@pytest.mark.parametrize('var', sorted(EXPECTED))
def test_equal_to_catseg_json(var, shared_data):
    src = shared_data / 'classnames' / EXPECTED[var][0]
    assert list(getattr(class_names, var)) == json.loads(src.read_text())


def test_known_quirks():
    # verbatim strings: ADE-150's trailing space, ADE-847 synonyms,
    # CAT-Seg's 'diningtable' in PC-59, VOC-20b = VOC-20 + stand-ins
    assert class_names.ADE20K_150_CLASSES[7] == 'bed '
    assert class_names.ADE20K_847_CLASSES[1] == 'building, edifice'
    assert 'diningtable' in class_names.PASCAL_CONTEXT_59_CLASSES
    voc20b = class_names.PASCAL_VOC_20B_CLASSES
    assert voc20b[:20] == class_names.PASCAL_VOC_20_CLASSES
    assert set(voc20b[20:]) <= set(class_names.PASCAL_CONTEXT_59_CLASSES)
