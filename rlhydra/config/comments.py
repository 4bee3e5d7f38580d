"""One-line help read from the source, where each setting is declared: the trailing `# comment` of a dataclass
field, and for a constructor argument its docstring's `Args:` entry or the comment on its line.

Reading the comments (rather than keeping a second copy in field metadata) keeps one text per field, in the place
a reader of the schema looks. A field that a subclass redeclares only to change its default keeps the help of the
class that declared it with a comment (`A2CTrainingConfig.lr` -> `TrainingConfig.lr`'s).
"""
from __future__ import annotations

import ast
import functools
import inspect
import io
import re
import sys
import tokenize
from dataclasses import fields
from typing import Any, Callable, Dict, Optional, Tuple


def field_help(cls: type) -> Dict[str, str]:
    """Field name -> its one-line help ('' when none is written) for a dataclass, looking through its bases."""
    found: Dict[str, str] = {}
    for f in fields(cls):
        for klass in cls.__mro__:
            if f.name in klass.__dict__.get("__annotations__", {}):
                text = _class_comments(klass).get(f.name, "")
                if text:
                    found[f.name] = text
                    break
        found.setdefault(f.name, "")
    return found


def class_summary(cls: type) -> str:
    """The first line of a class's docstring ('' without one)."""
    doc = cls.__dict__.get("__doc__") or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def argument_help(func: Callable[..., Any], owner: Optional[type] = None) -> Dict[str, str]:
    """Argument name -> help for a constructor: its docstring's `Args:` section (Google style, or `:param x:`),
    else the owning class's docstring's, else the comment on the argument's line."""
    found: Dict[str, str] = {}
    for doc in (getattr(func, "__doc__", None), getattr(owner, "__doc__", None)):
        for name, text in _docstring_args(doc or "").items():
            found.setdefault(name, text)
    for name, text in _argument_comments(func).items():
        found.setdefault(name, text)
    return found


# ---- source parsing -------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _module_source(module_name: str) -> Tuple[Optional[ast.Module], Dict[int, str]]:
    """(AST, line -> trailing comment) of a module's file; (None, {}) when its source cannot be read."""
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        source = ""
    if not source:
        return None, {}
    comments: Dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
        tree = ast.parse(source)
    except (SyntaxError, tokenize.TokenError):
        return None, {}
    return tree, comments


def _class_comments(cls: type) -> Dict[str, str]:
    """Field name -> trailing comment, for the fields a class body declares itself."""
    line = 0
    if "<locals>" in cls.__qualname__:  # a class defined in a function: found by its line
        try:
            line = inspect.getsourcelines(cls)[1]
        except (OSError, TypeError):
            return {}
    return _class_comments_cached(cls.__module__, cls.__qualname__, line)


@functools.lru_cache(maxsize=None)
def _class_comments_cached(module_name: str, qualname: str, line: int) -> Dict[str, str]:
    tree, comments = _module_source(module_name)
    found: Dict[str, str] = {}
    if tree is None:
        return found
    if line:
        name = qualname.rsplit(".", 1)[-1]
        node = min((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name and n.lineno >= line),
                   key=lambda n: n.lineno, default=None)
    else:
        node = _find(tree, qualname.split("."))
    if node is None:
        return found
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            text = _comment_between(comments, statement.lineno, statement.end_lineno or statement.lineno)
            if text:
                found[statement.target.id] = text
    return found


def _find(tree: ast.AST, path: list) -> Optional[ast.AST]:
    node: Optional[ast.AST] = tree
    for name in path:
        if node is None or name == "<locals>":
            return None
        node = next((child for child in getattr(node, "body", [])
                     if isinstance(child, (ast.ClassDef, ast.FunctionDef)) and child.name == name), None)
    return node


def _comment_between(comments: Dict[int, str], first: int, last: int) -> str:
    for line in range(first, last + 1):
        if comments.get(line):
            return comments[line]
    return ""


def _argument_comments(func: Callable[..., Any]) -> Dict[str, str]:
    """Argument name -> the comment on its line in the `def` (`hidden: int = 64,  # width of each layer`)."""
    code = getattr(func, "__code__", None)
    module_name = getattr(func, "__module__", None)
    if code is None or module_name is None:
        return {}
    tree, comments = _module_source(module_name)
    if tree is None:
        return {}
    node = _find(tree, getattr(func, "__qualname__", "").split("."))
    if not isinstance(node, ast.FunctionDef):
        return {}
    arguments = node.args
    found = {}
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        text = comments.get(arg.lineno, "")
        if text and text != comments.get(node.lineno):  # a comment on the `def` line is not an argument's
            found[arg.arg] = text
    return found


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Keyword Args|Keyword Arguments):\s*$")
_GOOGLE_ITEM = re.compile(r"^\s*\**(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_ITEM = re.compile(r"^\s*:param\s+(?:[\w\[\], ]+\s+)?(\w+)\s*:\s*(.*)$")


def _docstring_args(doc: str) -> Dict[str, str]:
    """`Args:` entries (and `:param x:` lines) of a docstring: name -> the first line of its text."""
    found: Dict[str, str] = {}
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    in_section, indent = False, None
    for line in lines:
        sphinx = _SPHINX_ITEM.match(line)
        if sphinx:
            found.setdefault(sphinx.group(1), sphinx.group(2).strip())
            continue
        if _SECTION.match(line):
            in_section, indent = True, None
            continue
        if not in_section:
            continue
        if not line.strip():
            continue
        current = len(line) - len(line.lstrip())
        if indent is None:
            indent = current
        if current < indent or (current == 0 and line.rstrip().endswith(":")):
            in_section = False
            continue
        item = _GOOGLE_ITEM.match(line)
        if current == indent and item:
            found.setdefault(item.group(1), item.group(3).strip())
    return found

