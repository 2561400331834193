"""Build the API reference (HTML) from the docstrings with pdoc.

    python docs/build_api.py                   # writes build/docs/index.html
    python docs/build_api.py --check           # the same, and fails on any warning
    python docs/build_api.py -o /tmp/api-docs  # somewhere else

`make docs` and `make docs-check` run this (`make test` runs `docs-check`).  The
docstrings are Google style (``Args:``, ``Returns:``, ``Raises:``) with
reStructuredText markup (``:func:`...```, double backticks), which pdoc's
``google`` format reads.  Needs pdoc (in the ``test`` extra).
"""

import argparse
import os
import pathlib
import pkgutil
import re
import sys
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "keras_se3"


def _modules():
    """The package and every public subpackage or module of it.

    pdoc follows a package's ``__all__``: a submodule listed there (``basis``,
    ``so3``, ...) is documented through the package, one that is not (``layers``,
    ``models``, ...) has to be named.  Naming one twice makes pdoc warn.
    """
    import importlib

    package = importlib.import_module(PACKAGE)
    listed = set(getattr(package, "__all__", ()))
    children = sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_") and info.name not in listed
    )
    return [PACKAGE] + [f"{PACKAGE}.{name}" for name in children]


# Markup that pdoc leaves in the page as it is: a ``literal`` or a `name` broken
# over two lines of the docstring, or a reStructuredText role it does not know.
# It shows as stray backticks, so it counts as a warning.
_LEFTOVER = re.compile(r"`")
_CODE = re.compile(r"<pre\b.*?</pre>|<code\b.*?</code>", re.S)


def _documented(module):
    """Every public documentation object of a pdoc module, the module first."""
    stack = [module]
    while stack:
        doc = stack.pop()
        yield doc
        for member in getattr(doc, "own_members", ()):
            if not member.name.startswith("_") or member.name == "__init__":
                stack.append(member)


# A ``literal`` whose backticks sit on two lines of the docstring: how a Markdown
# renderer joins the lines decides whether it renders (markdown2 2.5.5 did, 2.5.6
# does not), so the check refuses it whatever the installed renderer does.
_LITERAL = re.compile(r"``.+?``", re.S)
_FENCED = re.compile(r"```.*?```", re.S)  # code blocks (inherited Keras docstrings)


def _split_literals(modules):
    """``(qualified name, literal)`` for each literal spanning two docstring lines."""
    return [
        (doc.fullname, " ".join(match.group(0).split()))
        for module in modules
        for doc in _documented(module)
        for match in _LITERAL.finditer(_FENCED.sub("", doc.docstring or ""))
        if "\n" in match.group(0)
    ]


def _markup_problems(modules):
    """``(qualified name, line)`` for each docstring line with leftover markup."""
    from pdoc.docstrings import convert
    from pdoc.render_helpers import to_html

    problems = []
    for module in modules:
        for doc in _documented(module):
            markdown = convert(doc.docstring, "google", doc.source_file)
            for line in _CODE.sub("", to_html(markdown)).splitlines():
                if _LEFTOVER.search(line):
                    problems.append((doc.fullname, line.strip()))
    return problems


def _render(pdoc, modules, output):
    """What ``pdoc.pdoc(*modules, output_directory=output)`` does, keeping the
    documentation objects for the markup check."""
    documented = {
        name: pdoc.doc.Module.from_name(name)
        for name in pdoc.extract.walk_specs(modules)
    }
    for module in documented.values():
        page = output / f"{module.fullname.replace('.', '/')}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(pdoc.render.html_module(module, documented), "utf-8")
    (output / "index.html").write_text(pdoc.render.html_index(documented), "utf-8")
    (output / "search.js").write_text(pdoc.render.search_index(documented), "utf-8")
    return documented.values()


def build(output, check):
    # Quiet TensorFlow's start-up logging; let imported libraries run the
    # subprocesses they run on import (pdoc blocks them and warns otherwise).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PDOC_ALLOW_EXEC", "1")
    sys.path.insert(0, str(ROOT))
    try:
        import pdoc
        import pdoc.doc
        import pdoc.extract
        import pdoc.render
    except ImportError:
        sys.exit(
            "docs/build_api.py needs pdoc: pip install -e '.[test]' (or pdoc==16.0.0)."
        )

    pdoc.render.configure(
        docformat="google",
        footer_text=f"{PACKAGE} API reference",
        show_source=True,
    )
    with warnings.catch_warnings(record=True) as caught:
        # Every warning counts, however often it repeats: pdoc's (an import that
        # fails, a name in __all__ that does not resolve, a docstring it cannot
        # parse, ...) and the project's own.
        warnings.simplefilter("always")
        modules = _modules()
        documented = _render(pdoc, modules, pathlib.Path(output))
        problems = _markup_problems(documented)
        split = _split_literals(documented)
    # Warnings that other libraries raise while being imported (TensorFlow's
    # deprecations, ...) are not about these docstrings.
    places = (pathlib.Path(pdoc.__file__).parent, ROOT / PACKAGE, ROOT / "datasets")
    sources = tuple(str(path) + os.sep for path in places)
    ours = [r for r in caught if str(r.filename).startswith(sources)]
    if len(ours) < len(caught):
        print(f"({len(caught) - len(ours)} warnings of other libraries ignored)")
    failures = 0
    for record in ours:
        failures += 1
        print(
            f"pdoc warning ({record.category.__name__}, "
            f"{record.filename}:{record.lineno}):\n  {record.message}",
            file=sys.stderr,
        )
    for name, line in problems:
        failures += 1
        print(
            f"stray backticks in the rendered docstring of {name} (markup that did "
            "not render: a literal cut by a line that starts with '+', '-' or '#', "
            f"or an unknown role?):\n  {line}",
            file=sys.stderr,
        )
    for name, literal in split:
        failures += 1
        print(
            f"a literal spans two lines in the docstring of {name} (whether it "
            "renders depends on the Markdown renderer's version): keep "
            f"{literal} on one line",
            file=sys.stderr,
        )
    print(f"API reference of {', '.join(modules)} written to {output}/index.html")
    if check and failures:
        sys.exit(
            f"docs-check: {failures} warning(s) while building the API reference; "
            "fix the docstrings named above."
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", default=str(ROOT / "build" / "docs"), help="HTML directory"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with an error on any warning"
    )
    args = parser.parse_args(argv)
    build(args.output, args.check)


if __name__ == "__main__":
    main()
