"""Figures leave the user's matplotlib alone: no backend switch, no pyplot, PNGs that open."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Each check runs in a fresh interpreter: this process may already have
# imported pyplot or chosen a backend (through another test), which would hide
# exactly what is being tested.
_IMPORT_WITH_A_CHOSEN_BACKEND = """
import json, sys
import matplotlib
matplotlib.use("svg")  # the user's choice, made before mcflow is imported
import mcflow.figures
print(json.dumps({"backend": matplotlib.get_backend(),
                  "pyplot": "matplotlib.pyplot" in sys.modules}))
"""

_IMPORT_WITH_NO_BACKEND_CHOSEN = """
import json, sys
import matplotlib
# The raw rcParams entry: reading it through rcParams[...] would resolve it.
before = dict.__getitem__(matplotlib.rcParams, "backend")
import mcflow.figures
after = dict.__getitem__(matplotlib.rcParams, "backend")
print(json.dumps({"unchanged": after is before,
                  "pyplot": "matplotlib.pyplot" in sys.modules}))
"""

_DRAW_AND_SAVE = """
import json, sys
import matplotlib
matplotlib.use("svg")
import numpy as np
from mcflow import figures
rng = np.random.default_rng(0)
x = rng.standard_normal(2000)
figure = figures.samples_figure(x, np.exp(x), "exp")
path = figures.save_figure(figure, sys.argv[1], dpi=50)
print(json.dumps({"backend": matplotlib.get_backend(),
                  "pyplot": "matplotlib.pyplot" in sys.modules,
                  "axes": len(figure.axes),
                  "bars": [len(axis.patches) for axis in figure.axes],
                  "size": [int(v) for v in figure.get_size_inches() * 50],
                  "png": open(path, "rb").read(8).hex()}))
"""

_SAVE_A_PYPLOT_FIGURE = """
import json, sys
import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
from mcflow import figures
figure = plt.figure()
figure.subplots().plot([0, 1], [1, 0])
figures.save_figure(figure, sys.argv[1])
print(json.dumps({"open": plt.get_fignums()}))
"""

PNG_SIGNATURE = "89504e470d0a1a0a"


def _run(code, *arguments):
    environment = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    completed = subprocess.run([sys.executable, "-c", code, *arguments], env=environment,
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_import_keeps_the_users_backend_and_does_not_import_pyplot():
    assert _run(_IMPORT_WITH_A_CHOSEN_BACKEND) == {"backend": "svg", "pyplot": False}


def test_import_does_not_select_a_backend_when_the_user_has_not():
    assert _run(_IMPORT_WITH_NO_BACKEND_CHOSEN) == {"unchanged": True, "pyplot": False}


def test_drawing_and_saving_keep_the_backend_and_write_a_png(tmp_path):
    result = _run(_DRAW_AND_SAVE, str(tmp_path / "fig1.png"))
    assert result["backend"] == "svg"
    assert result["pyplot"] is False
    assert result["axes"] == 2
    assert result["bars"] == [50, 50]  # both histograms drew their 50 bins
    assert result["size"] == [450, 170]  # 9 x 3.4 inches at 50 dpi
    assert result["png"] == PNG_SIGNATURE
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary name was renamed away


def test_saving_a_users_pyplot_figure_closes_it(tmp_path):
    assert _run(_SAVE_A_PYPLOT_FIGURE, str(tmp_path / "user.png")) == {"open": []}


def test_new_figure_is_not_registered_with_pyplot():
    from mcflow import figures

    figure = figures.new_figure((4.0, 3.0))
    assert figure.canvas.get_default_filetype() == "png"
    assert type(figure.canvas).__name__ == "FigureCanvasAgg"
    assert figure.get_size_inches() == pytest.approx([4.0, 3.0])
    assert getattr(figure.canvas, "manager", None) is None  # pyplot gives every figure one


def test_fig2_draws_the_claim_as_bin_averages_like_the_monte_carlo():
    import dataclasses

    import numpy as np

    from mcflow import figures, transforms, validate

    result = validate(transforms.Cube(), n=10**5, seed=0)
    figure = figures.validation_densities_figure(result)
    centre = figure.axes[1]
    steps = [patch.get_data().values for patch in centre.patches]
    h = result.histogram
    # the Monte Carlo density and the claimed mass over the width, bin by bin: the
    # peak at 0 (where the pointwise pdf is infinite) compares like with like
    assert np.allclose(steps[0], h.density()) and np.allclose(steps[1], result.expected / h.widths)
    assert abs(steps[0].max() / steps[1].max() - 1) < 0.2

    # one bin 100x too full: the axis stays readable, the cell is drawn at the edge
    counts = h.counts.copy()
    counts[h.bins // 2] *= 100
    cells = np.concatenate([[h.underflow], counts, [h.overflow, h.nonfinite]])
    skewed = dataclasses.replace(result, histogram=dataclasses.replace(h, counts=counts),
                                 cells=cells)
    axis = figures.residuals_figure(skewed).axes[0]
    from mcflow.sensitivity import standardized_residuals
    z = standardized_residuals(cells, np.concatenate([[result.expected_underflow], result.expected,
                                               [result.expected_overflow,
                                                result.expected_nonfinite]]))
    assert np.nanmax(z) > 100 and axis.get_ylim()[1] < np.nanmax(z) / 10
    assert any(line.get_marker() == "^" for line in axis.lines)


@pytest.mark.parametrize(("figsize", "dpi"),
                         [((4.0, 3.0), 110), ((3.33, 2.07), 77), ((13.0, 4.6), 110)])
def test_saved_png_holds_the_pixels_matplotlib_draws(tmp_path, figsize, dpi):
    """The PNG is matplotlib's own render, up to the 256-colour palette.

    Pixel counts that are not whole (3.33 x 77 = 256.41) or whole only up to rounding
    (4.6 x 110 = 505.99999999999994, drawn 506 high: the benchmark plot) come out as Agg
    draws them.  The palette's rounding gives a mean absolute difference of
    0.9-1.1 levels of 255 on these plots (measured); swapped channels gave 11-12 and a
    one-pixel shift 4.6-7.8, so the bound is 2.
    """
    import io

    import numpy as np
    from PIL import Image

    from mcflow import figures

    figure = figures.new_figure(figsize)
    axes = figure.subplots()
    axes.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50) ** 2, color="tab:red")
    axes.fill_between([0.2, 0.6], 0.1, 0.9, color="tab:blue", alpha=0.5)
    reference_png = io.BytesIO()
    figure.savefig(reference_png, dpi=dpi, format="png")
    reference = np.asarray(Image.open(reference_png).convert("RGB"), dtype=float)
    path = figures.save_figure(figure, tmp_path / "figure.png", dpi=dpi)
    with Image.open(path) as image:
        assert image.mode == "P"  # the palette (a third of the bytes)
        saved = np.asarray(image.convert("RGB"), dtype=float)
    assert saved.shape == reference.shape
    assert np.mean(np.abs(saved - reference)) < 2.0
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
