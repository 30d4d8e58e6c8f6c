"""Import of suite2p output folders (a tiny synthetic folder) into the data model and NWB."""

from __future__ import annotations

import numpy as np
import pytest

from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Session, SessionInfo
from thalamocortex.preprocess.suite2p_io import footprint_image, read_suite2p


def write_fake_suite2p(root, n_rois=5, n_frames=200, fs=30.0, shape=(32, 40), seed=0, layout=1):
    """A minimal suite2p plane folder; ``layout`` 0 = legacy ops.npy, 1 = suite2p 1.x files."""
    rng = np.random.default_rng(seed)
    plane = root / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    stat = []
    for k in range(n_rois):
        cy, cx = 5 + 5 * k, 6 + 6 * k
        yy, xx = np.mgrid[cy - 2 : cy + 3, cx - 2 : cx + 3]
        lam = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0).ravel()
        stat.append(
            {"ypix": yy.ravel(), "xpix": xx.ravel(), "lam": lam, "med": [cy, cx], "npix": 25}
        )
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    F = rng.normal(100, 5, (n_rois, n_frames)).astype(np.float32)
    np.save(plane / "F.npy", F)
    np.save(plane / "Fneu.npy", (0.5 * F).astype(np.float32))
    iscell = np.stack([np.arange(n_rois) % 2 == 0, np.linspace(0.9, 0.1, n_rois)], 1)
    np.save(plane / "iscell.npy", iscell.astype(np.float64))
    mean_img = rng.random(shape).astype(np.float32)
    if layout == 0:
        ops = {"fs": fs, "Ly": shape[0], "Lx": shape[1], "meanImg": mean_img}
        np.save(plane / "ops.npy", ops, allow_pickle=True)
    else:
        np.save(plane / "settings.npy", {"fs": fs}, allow_pickle=True)
        np.save(plane / "reg_outputs.npy", {"meanImg": mean_img}, allow_pickle=True)
    return plane, F, stat


@pytest.mark.parametrize("layout", [0, 1])
def test_read_suite2p_folder(tmp_path, layout):
    plane, F, stat = write_fake_suite2p(tmp_path, layout=layout)
    im = read_suite2p(tmp_path, region="M1")
    assert im.rois["suite2p_index"].tolist() == [0, 2, 4]  # iscell labels
    assert im.rois["roi_name"].tolist() == ["roi0", "roi2", "roi4"]
    np.testing.assert_array_equal(im.f, F[[0, 2, 4]].T)
    np.testing.assert_array_equal(im.fneu, 0.5 * F[[0, 2, 4]].T)
    assert im.f.dtype == np.float32 and im.f.shape == (200, 3)
    np.testing.assert_allclose(im.times[:3], [0, 1 / 30, 2 / 30])
    assert im.image_shape == (32, 40) and im.mean_image.shape == (32, 40)
    np.testing.assert_allclose(im.rois[["centroid_y", "centroid_x"]].iloc[1], [15.0, 18.0])
    img = footprint_image(im.footprints[1], im.image_shape)
    assert img.argmax() == np.ravel_multi_index((15, 18), (32, 40))
    all_rois = read_suite2p(plane, only_cells=False)
    assert len(all_rois.rois) == 5
    prob = read_suite2p(plane, min_cell_probability=0.5)
    assert prob.rois["suite2p_index"].tolist() == [0, 1, 2]


def test_read_suite2p_round_trips_through_nwb(tmp_path):
    nwb = pytest.importorskip("thalamocortex.data.nwb")
    write_fake_suite2p(tmp_path / "s2p")
    im = read_suite2p(tmp_path / "s2p")
    info = SessionInfo(
        mouse="m1", session=1, experiment="all_optical", region="M1", frame_rate=30.0
    )
    path = tmp_path / "sub-m1_ses-1.nwb"
    nwb.write_session(Session(info=info, imaging=im), path)
    with nwb.read_session(path, nwb.NWBNames(require_lever=False)) as back:
        back.load()
        np.testing.assert_allclose(back.imaging.f, im.f)
        assert back.imaging.rois["roi_name"].tolist() == im.rois["roi_name"].tolist()
        assert len(back.imaging.footprints) == 3
        np.testing.assert_allclose(back.imaging.footprints[2], im.footprints[2])


def test_read_suite2p_bad_folders(tmp_path):
    with pytest.raises(DataError, match="no suite2p output"):
        read_suite2p(tmp_path)
    plane, F, _ = write_fake_suite2p(tmp_path / "a")
    np.save(plane / "Fneu.npy", np.zeros((4, 200), np.float32))
    with pytest.raises(DataError, match="Fneu.npy"):
        read_suite2p(plane)
    plane, F, _ = write_fake_suite2p(tmp_path / "b")
    (plane / "settings.npy").unlink()
    with pytest.raises(DataError, match="fs"):
        read_suite2p(plane)
    im = read_suite2p(plane, frame_times=np.arange(200) * 0.1)
    assert im.frame_rate == pytest.approx(10.0)
