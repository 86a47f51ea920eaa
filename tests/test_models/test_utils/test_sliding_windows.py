"""Window arithmetic of CAT-Seg's sliding-window test protocol."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dcp_mm.models.utils import Window, resize_view, sliding_windows


def window_views(img, wins, size):
    """The model inputs of the windows, as slide_inference makes them."""
    return [resize_view(img[..., w.y1:w.y2, w.x1:w.x2], size) for w in wins]


def global_view(img, crop, size):
    """The global view's model input, as slide_inference makes it: the
    image resized to the window, then to the network size."""
    return resize_view(resize_view(img, crop), size)


def test_catseg_vitl_windows_are_unfold_positions():
    """640 image, 384 windows, stride int(384 * (1 - 0.333)) = 256: the
    official nn.Unfold grid, 2 x 2 windows starting at 0 and 256."""
    stride = int(384 * (1 - 0.333))
    assert stride == 256
    wins = sliding_windows((640, 640), (384, 384), (stride, stride))
    assert wins == [
        Window(0, 384, 0, 384),
        Window(0, 384, 256, 640),
        Window(256, 640, 0, 384),
        Window(256, 640, 256, 640)
    ]
    # the same crops as the official unfold, in the same order
    img = torch.randn(1, 3, 640, 640)
    unfold = nn.Unfold(kernel_size=384, stride=stride)
    # (1, 3*384*384, L) -> (L, 3, 384, 384)
    ref = unfold(img)[0].t().reshape(-1, 3, 384, 384)
    views = window_views(img, wins, None)
    assert len(views) == ref.shape[0] == 4
    for view, r in zip(views, ref):
        assert torch.equal(view[0], r)


def test_windows_resized_to_clip_resolution():
    """ViT-L: every 384 window goes to the model at 336 (bilinear,
    align_corners=False), the global view is 640 -> 384 -> 336."""
    img = torch.randn(2, 3, 640, 640)
    wins = sliding_windows((640, 640), (384, 384), (256, 256))
    views = window_views(img, wins, (336, 336))
    assert all(v.shape == (2, 3, 336, 336) for v in views)
    ref = F.interpolate(
        img[..., 256:640, 0:384], (336, 336),
        mode='bilinear',
        align_corners=False)
    assert torch.equal(views[2], ref)
    g = global_view(img, (384, 384), (336, 336))
    two_step = F.interpolate(
        F.interpolate(img, (384, 384), mode='bilinear', align_corners=False),
        (336, 336),
        mode='bilinear',
        align_corners=False)
    assert torch.equal(g, two_step)
    # ViT-B: no window resize, the global view is one resize
    assert torch.equal(
        global_view(img, (384, 384), None),
        F.interpolate(img, (384, 384), mode='bilinear', align_corners=False))
    assert resize_view(img, None) is img and resize_view(img, (640, 640)) \
        is img


@pytest.mark.parametrize('size,crop,stride',
                         [((500, 700), (384, 384), (256, 256)),
                          ((100, 90), (384, 384), (256, 256)),
                          ((640, 640), (336, 336), (224, 224))])
def test_windows_cover_the_image_and_stay_inside(size, crop, stride):
    wins = sliding_windows(size, crop, stride)
    covered = torch.zeros(size, dtype=torch.bool)
    for w in wins:
        assert 0 <= w.y1 < w.y2 <= size[0] and 0 <= w.x1 < w.x2 <= size[1]
        assert w.y2 - w.y1 == min(crop[0], size[0])
        covered[w.y1:w.y2, w.x1:w.x2] = True
    assert covered.all()
    if size == (640, 640) and crop == (336, 336):
        assert len(wins) == 9  # the old ViT-L tiling: 3 x 3


def test_bad_arguments():
    with pytest.raises(ValueError, match='stride_h'):
        sliding_windows((640, 640), (384, 384), (0, 256))
    with pytest.raises(ValueError, match='crop_w'):
        sliding_windows((640, 640), (384, -1), (256, 256))
