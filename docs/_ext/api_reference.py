"""Write the API reference page from the packages' ``__all__``.

Every public name is documented once: under ``sksparse`` when the top-level
package re-exports it, else under its sub-package. The page is regenerated
at every build, so a name added to an ``__all__`` appears without editing the
docs, and a name removed disappears. A public sub-package missing from
``SECTIONS`` gets a section of its own at the end, so none goes undocumented.
"""

import importlib
import inspect
import pkgutil

SECTIONS = [
    ("sksparse", "Estimators", "The scikit-learn estimators, at the top level."),
    ("sksparse.estimators", "More estimators and reports", None),
    ("sksparse.metrics", "Scores and compression reports", None),
    ("sksparse.nn", "Torch modules", None),
    ("sksparse.graphs", "Graphs: priors, mappings, structure", None),
    ("sksparse.pruning", "Pruning and sparse training", None),
    ("sksparse.search", "Structure search", None),
    ("sksparse.io", "Saving and loading models", None),
    ("sksparse.datasets", "Data sets", None),
    ("sksparse.plotting", "Plotting", None),
    ("sksparse.experiments", "Experiments (the command line's library)", None),
    ("sksparse.utils", "Helpers the sub-packages share", None),
    ("sksparse.cli", "The command line, from Python", None),
]


def public_modules():
    """Every public module of sksparse: the top level and its sub-packages."""
    import sksparse

    names = [
        f"sksparse.{info.name}"
        for info in pkgutil.iter_modules(sksparse.__path__)
        if not info.name.startswith("_")
    ]
    return ["sksparse", *sorted(names)]


def _sections():
    listed = [module for module, _, _ in SECTIONS]
    extra = [
        (module, module.split(".")[-1].capitalize(), None)
        for module in public_modules()
        if module not in listed
    ]
    return SECTIONS + extra


def _kind(obj):
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def public_names():
    """``[(module, title, intro, [(name, kind), ...]), ...]`` in page order."""
    seen = set()
    sections = []
    for module_name, title, intro in _sections():
        module = importlib.import_module(module_name)
        names = []
        for name in sorted(getattr(module, "__all__", []), key=str.lower):
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            key = id(obj) if _kind(obj) != "data" else (module_name, name)
            if key in seen:
                continue
            seen.add(key)
            names.append((name, _kind(obj)))
        sections.append((module_name, title, intro, names))
    return sections


def write_api_reference(path):
    lines = [
        ".. This page is written by docs/_ext/api_reference.py at every build.",
        "",
        "API reference",
        "=============",
        "",
        "Every public name of sksparse, by sub-package. The estimators are",
        "imported from ``sksparse`` itself; everything else from its",
        "sub-package (``from sksparse.pruning import MagnitudePruner``).",
        "",
    ]
    for module_name, title, intro, names in public_names():
        if not names:
            continue
        heading = f"``{module_name}``: {title}"
        lines += [heading, "-" * len(heading), ""]
        if intro:
            lines += [intro, ""]
        else:
            lines += [f".. automodule:: {module_name}", "   :no-members:", ""]
        lines += [f".. currentmodule:: {module_name}", ""]
        for kind in ("class", "function", "data"):
            chosen = [n for n, k in names if k == kind]
            if not chosen:
                continue
            lines += [
                ".. autosummary::",
                "   :toctree: generated/",
                "   :nosignatures:",
                "",
                *(f"   {name}" for name in chosen),
                "",
            ]
    text = "\n".join(lines)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
