"""DCP-CLIP Table II reproduced on the meta device (no weights)."""
import pytest

from dcp_mm.evaluation.complexity import (TABLE2_ROWS, build_meta_model,
                                          count_params, format_table2,
                                          protocol_views, table2_row)

ROWS = {r.label: r for r in TABLE2_ROWS}


@pytest.mark.parametrize('label,tol', [('CAT-Seg ViT-L/14@336', 1e-3),
                                       ('DCP-CLIP ViT-L/14@336', 1e-2)])
def test_parameter_counts_meet_the_paper(label, tol):
    """CAT-Seg 433.7 / 70.3 M within 0.1 %, DCP-CLIP 443.6 / 80.3 M within
    1 % (text q/v fine-tuned, ViT-L/14@336px, the configs' sizes)."""
    row = ROWS[label]
    total, learn = count_params(build_meta_model(row.config))
    p_learn, p_total, _ = row.paper
    assert abs(total / p_total - 1) <= tol, total
    assert abs(learn / p_learn - 1) <= tol, learn


def test_protocol_views():
    """CAT-Seg ViT-L: 2 x 2 windows of 384 on 640 + global view, each at
    336; ViT-B: 5 views at 384; SED: one 768 view."""
    vitl = dict(
        mode='slide',
        crop_size=(384, 384),
        stride=(256, 256),
        window_resize=(336, 336),
        global_view=True)
    assert protocol_views(vitl) == (5, (336, 336))
    assert protocol_views({**vitl, 'window_resize': None}) == (5, (384, 384))
    assert protocol_views({**vitl, 'global_view': False}) == (4, (336, 336))
    assert protocol_views(dict(mode='whole', crop_size=(768, 768))) == \
        (1, (768, 768))
    with pytest.raises(ValueError, match='crop_size'):
        protocol_views(dict(mode='whole'))
    with pytest.raises(ValueError, match='unknown test mode'):
        protocol_views(dict(mode='tiles'))


def test_row_gflops_add_up_and_format():
    row = table2_row(ROWS['CAT-Seg ViT-L/14@336'], num_categories=4)
    assert row['views'] == '5 x 336' and row['K'] == 4
    # 5 views of (encoder + head): total = 5 x one view
    assert row['GFLOPs'] == pytest.approx(5 * row['GFLOPs_one_view'], 1e-3)
    assert 150 < row['encoder_GFLOPs_per_view'] < 250  # ViT-L/14 @ 336
    assert row['GFLOPs_ratio'] == pytest.approx(row['GFLOPs'] / 2121.1, 1e-2)
    text = format_table2([row])
    assert text.count('\n') == 2 and 'CAT-Seg ViT-L/14@336' in text
