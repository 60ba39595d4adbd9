"""Sphinx configuration of mcflow's documentation (``make docs``; built by ``make test``).

The site is built with ``-W --keep-going -n``: every warning, a broken cross-reference or a
numpydoc parse error included, fails the build, and ``tests/test_docs.py`` runs that build in
the README's test command, so the pages cannot drift away from the code.  The local extension
``_ext/mcflow_docs.py`` generates what would otherwise be copied by hand: the CLI reference from
the real argparse parser, the config table from ``mcflow.config``, the tutorial's example output
by running it, and the report numbers from the committed files of ``reports/``.  Nothing is
fetched from the network at build time.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's mcflow, also without an install

import mcflow  # noqa: E402  (after the path set-up)

project = "mcflow"
author = "mcflow developers"
copyright = "mcflow developers"
release = mcflow.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "mcflow_docs",  # docs/_ext: generated pages' parts, MathML formulas, references
]

# Facts the pages quote from the code, never copied by hand.
rst_epilog = f"""
.. |schema| replace:: ``{importlib.import_module("mcflow.result").SCHEMA_VERSION}``
"""

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
# Backticks without a role are code, as in the docstrings (``x`` and `x` alike).
default_role = "code"

# -- HTML ------------------------------------------------------------------------------------
# The builtin alabaster theme: no extra download, and it reads well on one column.
html_theme = "alabaster"
html_theme_options = {
    "description": "Brute-force Monte Carlo checks of transformed densities",
    "page_width": "1100px",
    "sidebar_width": "230px",
    "fixed_sidebar": False,
    "show_relbars": True,
}
html_static_path = ["_static"]
html_css_files = ["mcflow.css"]
html_title = f"mcflow {release}"
html_show_sourcelink = False
# Formulas render as MathML, converted at build time by docutils (mcflow_docs.py): browsers
# display MathML natively, so the pages need no MathJax from a CDN and read the same offline.
html_math_renderer = "mathml"

# -- autodoc and numpydoc --------------------------------------------------------------------
autodoc_member_order = "bysource"
# The numpydoc "Parameters" sections carry the types, in words a reader can follow
# ("int or array_like, optional"); the annotations would repeat them in the signature, as
# references to numpy, numba and typing objects that no offline inventory resolves.
autodoc_typehints = "none"
autodoc_default_options = {"members": True}
# Class pages list their documented members through autodoc (:members:); numpydoc's own
# member tables would need autosummary stub pages for every attribute.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True
# numpydoc reports some docstring defects (an unknown section such as "Return" for "Returns")
# with warnings.warn, which Sphinx's -W does not see: make them errors, so the build fails
# and names the docstring.
warnings.filterwarnings("error", category=UserWarning, module="numpydoc")

# -- nitpicky (-n) ---------------------------------------------------------------------------
# Every :func:/:class:/:mod: reference to mcflow must resolve.  References to other projects
# would need intersphinx inventories, which are downloaded at build time; the build must run
# offline (CI has no guaranteed network), so the names docstrings cite from the libraries
# mcflow builds on or adapts (numpy.histogram, scipy.stats.kstwobign...) render as code,
# unlinked.  So do references to mcflow's private modules (mcflow._seeds.case_seed...), which
# docstrings name for maintainers and this site does not document.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|scipy|matplotlib|numba|dask|distributed|torch|jax)(\..*)?"),
    (r"py:.*", r"mcflow\._.*"),
]
