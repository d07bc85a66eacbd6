"""Sphinx configuration of the sksparse documentation.

``make docs`` builds it with ``-W`` (every warning is an error). The API
reference (``api.rst``) is written here, at each build, from the ``__all__``
of every public sub-package, so it always lists exactly the public names.
Set ``SKSPARSE_DOCS_GALLERY=0`` to build without running the examples.
"""

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

from api_reference import write_api_reference  # noqa: E402
from cli_help import write_cli_help  # noqa: E402

import sksparse  # noqa: E402

project = "sksparse"
author = "The sksparse developers"
copyright = "2026, The sksparse developers"  # noqa: A001
release = sksparse.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "gen_modules/backreferences/*", "**.ipynb_checkpoints"]
root_doc = "index"
default_role = "literal"

# -- API reference -----------------------------------------------------------
write_api_reference(HERE / "api.rst")
write_cli_help(HERE / "generated" / "cli")
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's metadata-routing setters (``set_*_request``).

    scikit-learn generates them on every estimator; their docstrings point
    into scikit-learn's own glossary and say nothing about sksparse.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


_PARAM_LINE = re.compile(r"^(\s*\*{0,2}\w+ : )(.*)$")


def _escape_parameter_types(app, what, name, obj, options, lines):
    """Type text of numpydoc parameters is plain text, not reStructuredText.

    A default such as ``default="module_"`` would otherwise be read as a
    hyperlink reference (a trailing underscore) and fail the build.
    """
    for i, line in enumerate(lines):
        match = _PARAM_LINE.match(line)
        if match and "`" not in match.group(2):
            escaped = re.sub(r"(\w)_(?=\W|$)", r"\1\\_", match.group(2))
            lines[i] = match.group(1) + escaped


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _escape_parameter_types, priority=400)


# -- gallery -----------------------------------------------------------------
# The examples train small networks, for which more torch threads than one
# mostly add contention (on a 2-core CI machine, a lot of it).
import torch  # noqa: E402

torch.set_num_threads(1)
run_gallery = os.environ.get("SKSPARSE_DOCS_GALLERY", "1") != "0"
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|/_",
    "plot_gallery": "True" if run_gallery else "False",
    "subsection_order": "gallery_order.topic_order",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sksparse",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sksparse": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 5,
    # Examples print what they want shown; the repr of a last expression
    # (a matplotlib Text, say) is noise.
    "capture_repr": (),
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sksparse {release}"
html_static_path = ["_static"]
html_css_files = ["sksparse.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "getting_started": [], "api": [], "cli": []}
html_context = {"default_mode": "light"}
