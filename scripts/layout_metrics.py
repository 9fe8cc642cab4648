"""Measure a Python package's layout from its source, over `ast` (nothing of it is imported or run).

    python scripts/layout_metrics.py [--root PATH] [--package seer_mcp] [--json] [--trace]

Modules are the .py files under ROOT/PACKAGE (``__pycache__`` excluded); a file that cannot be read or
parsed is skipped with a note on stderr, so a half-moved tree still gets measured. It reports:

1. The number of modules and their total lines.
2. Internal import edges, one per ordered pair of package modules, from every ``import x`` and
   ``from x import y`` in a file (function bodies and ``if TYPE_CHECKING:`` blocks included). Relative
   imports are resolved; ``from pkg import name`` points at the submodule ``pkg.name`` when that is a
   module file, else at ``pkg`` (its ``__init__``). The implicit import of parent packages
   (``import a.b.c`` also runs ``a/__init__``) adds no edge. An edge takes the kind of its most eager
   import statement: top-level (module body, class bodies and try/if blocks included), lazy (only inside
   functions) or TYPE_CHECKING-only.
3. Cycles: strongly connected components (Tarjan) of more than one module, over (a) all edges, (b) the
   top-level runtime edges only and (c) the edges that run at all (top-level and lazy).
4. The five largest modules (lines) and classes (``class`` line to last line; methods: defs in its body).
5. The chain of modules an MCP tool's call passes through, statically, for `execute_code`,
   `create_sandbox` and `start_session`: the entry is the first def of that name (nested ones included) in
   the package's ``tools`` folder.

The call-chain heuristic (deterministic; it need not be complete):

- A function's body is walked in source order, its nested defs, classes, lambdas and decorators left out;
  inside one expression, calls come in evaluation order (the arguments before the call they are passed to).
- Each call resolves to a def in the package or is dropped (library calls, builtins, unknowns):
  * a bare name: a def nested in the enclosing functions, else a local variable (not followed), else the
    module's own def, else what the module imports under that name (re-exports through ``__init__`` are
    followed). A class means its ``__init__`` when the package defines one.
  * ``recv.meth(...)``: the type of ``recv`` is inferred from annotations: ``self``/``cls``, parameter
    and variable annotations, return annotations of resolved calls, class-level and ``self.attr``
    annotations or assignments, ``with ... as``, ``for ... in``, tuple unpacking over ``tuple[...]``;
    ``Optional``/``X | None``, iterator and container generics are unwrapped. ``meth`` is then looked up
    in that class and its package bases; ``module.func`` is looked up in that module. A receiver typed as
    a library object (an import from outside the package, a builtin, a literal) drops the call.
  * a receiver of unknown type (an unannotated parameter, an unresolved local) falls back on the name:
    the methods called ``meth`` across the package's classes. One candidate is taken; among several, those
    in modules the current module imports (or in itself): if they are all in one module, its first.
    Dunder names and method names of builtin types (get, pop, append, ...) are never resolved this way.
- Depth first from the entry; each function is visited once, at most 8 calls deep. The chain records the
  module of each function entered, and the caller's module again when it calls on after a callee in
  another module has returned (a return followed by no further call is not shown); consecutive repeats
  collapse. Implicit calls (``__enter__``, ``__exit__``, properties, decorators) are not followed.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOLS = ("execute_code", "create_sandbox", "start_session")
MAX_DEPTH = 8
TOP, LAZY, TC = "top-level", "lazy", "TYPE_CHECKING"
_EAGERNESS = {TOP: 2, LAZY: 1, TC: 0}
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_BLOCKS = (ast.stmt, ast.excepthandler, ast.match_case)
# A receiver of unknown type calling one of these is most likely a builtin object, not a package one.
_BUILTIN_METHODS = frozenset(n for t in (dict, list, set, str, bytes, tuple, int, float, object) for n in dir(t))
_WRAPPERS = frozenset({"Optional", "Annotated", "Final", "ClassVar", "Awaitable", "Required", "NotRequired"})
_ITERABLES = frozenset({"list", "List", "set", "Set", "frozenset", "FrozenSet", "Sequence", "MutableSequence",
                        "Iterable", "Iterator", "AsyncIterable", "AsyncIterator", "Generator", "AsyncGenerator",
                        "Collection", "deque", "Deque"})
_MAPPINGS = frozenset({"dict", "Dict", "Mapping", "MutableMapping", "defaultdict", "DefaultDict", "OrderedDict"})
_ITER_BUILTINS = frozenset({"list", "tuple", "sorted", "reversed", "set", "frozenset", "iter"})


def warn(message: str) -> None:
    print(f"layout_metrics: {message}", file=sys.stderr)


# ----- the index: modules, defs, imports ---------------------------------------------------------------------

@dataclass(eq=False)
class Func:
    module: str
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: ClassInfo | None = None
    parent: Func | None = None
    nested: dict[str, Def] = field(default_factory=dict)


@dataclass(eq=False)
class ClassInfo:
    module: str
    qualname: str
    node: ast.ClassDef
    methods: dict[str, Func] = field(default_factory=dict)


Def = Func | ClassInfo


@dataclass(frozen=True)
class Ref:
    """What an imported name is bound to: a package module, a name in one, or something outside."""
    kind: str  # "module" | "symbol" | "external"
    module: str = ""
    name: str = ""


@dataclass(frozen=True)
class Ty:
    """An inferred type: inst/cls (of a package class), mod, ext (library), tuple, iter, map, unknown."""
    kind: str
    cls: ClassInfo | None = None
    module: str = ""
    items: tuple[Ty | None, ...] = ()


EXTERNAL = Ty("ext")
UNKNOWN = Ty("unknown")
Target = Func | ClassInfo | Ty | None


@dataclass
class Module:
    name: str
    rel: str
    tree: ast.Module
    lines: int
    is_package: bool
    defs: dict[str, Def] = field(default_factory=dict)
    names: dict[str, Ref] = field(default_factory=dict)
    variables: dict[str, ast.Assign | ast.AnnAssign] = field(default_factory=dict)


def load_modules(root: Path, package: str) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        if name in modules:
            warn(f"skipped {rel.as_posix()}: module {name} is also {modules[name].rel}")
            continue
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text, filename=str(path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
            warn(f"skipped {rel.as_posix()}: {type(exc).__name__}: {exc}")
            continue
        modules[name] = Module(name, rel.as_posix(), tree, len(text.splitlines()), is_package)
    return modules


def direct_defs(nodes: Iterable[ast.AST]) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """The defs of a scope, also those inside its if/try/with blocks, not those nested in other defs."""
    for node in nodes:
        if isinstance(node, _DEFS):
            yield node
        elif isinstance(node, _BLOCKS):
            yield from direct_defs(c for c in ast.iter_child_nodes(node) if isinstance(c, _BLOCKS))


def local_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Pre-order, in source order, without entering nested defs, classes and lambdas."""
    for node in nodes:
        yield node
        if not isinstance(node, _SCOPES):
            yield from local_nodes(ast.iter_child_nodes(node))


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_sites(nodes: Iterable[ast.AST], kind: str = TOP) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, kind
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            yield from import_sites(node.body, TC)
            yield from import_sites(node.orelse, kind)
        elif isinstance(node, (*_FUNCS, ast.Lambda)):
            yield from import_sites(ast.iter_child_nodes(node), LAZY if kind == TOP else kind)
        else:
            yield from import_sites(ast.iter_child_nodes(node), kind)


def module_variables(body: list[ast.stmt]) -> dict[str, ast.Assign | ast.AnnAssign]:
    """Names assigned at module level (in if/try blocks too), each with its first assignment."""
    out: dict[str, ast.Assign | ast.AnnAssign] = {}
    for node in local_nodes(body):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                out.setdefault(target.id, node)
    return out


class Index:
    """The package's modules, their defs and imported names, and the import graph."""

    def __init__(self, modules: dict[str, Module], package: str) -> None:
        self.modules = modules
        self.package = package
        self.funcs: list[Func] = []
        self.classes: list[ClassInfo] = []
        self.edges: dict[tuple[str, str], str] = {}
        for mod in modules.values():
            mod.defs = self._index_scope(mod.tree.body, mod.name, None, None, "")
            mod.variables = module_variables(mod.tree.body)
            self._index_imports(mod)
        self.methods_by_name: dict[str, list[Func]] = defaultdict(list)
        for cls in self.classes:
            for name, method in cls.methods.items():
                self.methods_by_name[name].append(method)

    def _index_scope(self, body: list[ast.stmt], module: str, cls: ClassInfo | None, parent: Func | None,
                     prefix: str) -> dict[str, Def]:
        out: dict[str, Def] = {}
        for node in direct_defs(body):
            qualname = prefix + node.name
            if isinstance(node, ast.ClassDef):
                info = ClassInfo(module, qualname, node)
                self.classes.append(info)
                members = self._index_scope(node.body, module, info, parent, qualname + ".")
                info.methods = {name: d for name, d in members.items() if isinstance(d, Func)}
                out[node.name] = info
            else:
                func = Func(module, qualname, node, cls, parent)
                self.funcs.append(func)
                func.nested = self._index_scope(node.body, module, None, func, qualname + ".<locals>.")
                out[node.name] = func
        return out

    def in_package(self, name: str | None) -> bool:
        return name is not None and (name == self.package or name.startswith(self.package + "."))

    def module_for(self, name: str) -> str | None:
        """The longest prefix of a dotted name that is a package module."""
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.modules:
                return candidate
        return None

    def _absolute(self, mod: Module, module: str | None, level: int) -> str | None:
        if level == 0:
            return module
        parts = mod.name.split(".") if mod.is_package else mod.name.split(".")[:-1]
        parts = parts[:len(parts) - (level - 1)]
        if not parts:
            return None
        return ".".join(parts + ([module] if module else []))

    def _bindings(self, mod: Module, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str | None, Ref, str | None]]:
        """(bound name, what it is bound to, the package module it is an edge to) per imported name."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not self.in_package(alias.name):
                    yield alias.asname or alias.name.split(".")[0], Ref("external"), None
                elif alias.asname:
                    yield alias.asname, Ref("module", alias.name), self.module_for(alias.name)
                else:
                    yield self.package, Ref("module", self.package), self.module_for(alias.name)
            return
        base = self._absolute(mod, node.module, node.level)
        for alias in node.names:
            if not self.in_package(base):
                if alias.name != "*":
                    yield alias.asname or alias.name, Ref("external"), None
                continue
            assert base is not None
            sub = f"{base}.{alias.name}"
            if alias.name == "*":
                yield None, Ref("external"), self.module_for(base)
            elif sub in self.modules:
                yield alias.asname or alias.name, Ref("module", sub), sub
            else:
                yield alias.asname or alias.name, Ref("symbol", base, alias.name), self.module_for(base)

    def _index_imports(self, mod: Module) -> None:
        late: dict[str, Ref] = {}
        for node, kind in import_sites(mod.tree.body):
            for bound, ref, target in self._bindings(mod, node):
                if target is not None and target != mod.name:
                    self._add_edge(mod.name, target, kind)
                if bound is None:
                    continue
                if kind == LAZY:
                    late.setdefault(bound, ref)
                else:
                    mod.names[bound] = ref
        for bound, ref in late.items():
            mod.names.setdefault(bound, ref)

    def _add_edge(self, src: str, dst: str, kind: str) -> None:
        current = self.edges.get((src, dst))
        if current is None or _EAGERNESS[kind] > _EAGERNESS[current]:
            self.edges[(src, dst)] = kind

    def lookup(self, module: str, name: str, depth: int = 0) -> Target:
        """What `name` is in a package module: its def, a followed import, a submodule; None if neither."""
        mod = self.modules.get(module)
        if mod is None or depth > 10:
            return None
        if name in mod.defs:
            return mod.defs[name]
        ref = mod.names.get(name)
        if ref is not None:
            if ref.kind == "external":
                return EXTERNAL
            if ref.kind == "module":
                return Ty("mod", module=ref.module)
            return self.lookup(ref.module, ref.name, depth + 1)
        if f"{module}.{name}" in self.modules:
            return Ty("mod", module=f"{module}.{name}")
        return None

    def imported(self, module: str) -> set[str]:
        """The modules `module` imports, and those defining the names it imports through re-exports."""
        out = {dst for (src, dst) in self.edges if src == module}
        mod = self.modules.get(module)
        for name, ref in (mod.names.items() if mod else ()):
            if ref.kind == "symbol":
                target = self.lookup(module, name)
                if isinstance(target, (Func, ClassInfo)):
                    out.add(target.module)
        return out


# ----- types and calls -------------------------------------------------------------------------------------

def rank(ty: Ty | None) -> int:
    if ty is None:
        return 0
    return {"ext": 1, "unknown": 2}.get(ty.kind, 3)


def best(*types: Ty | None) -> Ty | None:
    """The most informative of several types; the first among equals."""
    top: Ty | None = None
    for ty in types:
        if rank(ty) > rank(top):
            top = ty
    return top


def tail_name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {tail_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}


def element(ty: Ty | None) -> Ty | None:
    """What iterating over a value of this type gives."""
    if ty is not None and ty.kind in ("iter", "map"):
        return ty.items[0]
    return UNKNOWN if ty == UNKNOWN else None


def item(ty: Ty | None, index: ast.expr) -> Ty | None:
    """What subscripting a value of this type gives."""
    if ty is None:
        return None
    if ty.kind == "iter":
        return ty.items[0]
    if ty.kind == "map":
        return ty.items[1]
    if ty.kind == "tuple" and isinstance(index, ast.Constant) and isinstance(index.value, int):
        return ty.items[index.value] if -len(ty.items) <= index.value < len(ty.items) else None
    return UNKNOWN if ty == UNKNOWN else None


def container_method(ty: Ty, name: str) -> Ty | None:
    if ty.kind == "map":
        key, value = ty.items
        return {"get": value, "pop": value, "setdefault": value, "values": Ty("iter", items=(value,)),
                "keys": Ty("iter", items=(key,)), "items": Ty("iter", items=(Ty("tuple", items=(key, value)),))
                }.get(name)
    return ty.items[0] if name == "pop" else None


@dataclass
class Scope:
    module: str
    func: Func | None
    env: dict[str, Ty | None]


class Resolver:
    """Infers receiver types from annotations and resolves calls to the package's defs (memoised)."""

    def __init__(self, index: Index) -> None:
        self.ix = index
        self._envs: dict[int, dict[str, Ty | None]] = {}
        self._members: dict[tuple[int, str], Ty | None] = {}
        self._variables: dict[tuple[str, str], Ty | None] = {}
        self._mros: dict[int, list[ClassInfo]] = {}

    # names

    def module_target(self, module: str, name: str) -> Target:
        target = self.ix.lookup(module, name)
        if target is not None:
            return target
        mod = self.ix.modules.get(module)
        if mod is not None and name in mod.variables:
            return self.variable_type(mod, name)
        return EXTERNAL if hasattr(builtins, name) else None

    def variable_type(self, mod: Module, name: str) -> Ty | None:
        key = (mod.name, name)
        if key not in self._variables:
            self._variables[key] = None
            node = mod.variables[name]
            scope = Scope(mod.name, None, {})
            self._variables[key] = (self.ann_type(node.annotation, mod.name) if isinstance(node, ast.AnnAssign)
                                    else self.infer(node.value, scope))
        return self._variables[key]

    def name_target(self, name: str, scope: Scope) -> Target:
        func = scope.func
        while func is not None:
            if name in func.nested:
                return func.nested[name]
            func = func.parent
        if name in scope.env:
            return scope.env[name]
        return self.module_target(scope.module, name)

    def static_target(self, node: ast.expr, module: str) -> Target:
        """What a name or dotted name in an annotation or a base-class list is."""
        if isinstance(node, ast.Name):
            return self.module_target(module, node.id)
        if isinstance(node, ast.Attribute):
            base = self.static_target(node.value, module)
            if isinstance(base, Ty) and base.kind == "mod":
                return self.module_target(base.module, node.attr)
            return EXTERNAL if base == EXTERNAL else None
        if isinstance(node, ast.Subscript):
            return self.static_target(node.value, module)
        return None

    # annotations

    def ann_type(self, node: ast.expr | None, module: str, cls: ClassInfo | None = None) -> Ty | None:
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, str):
                return None
            try:
                return self.ann_type(ast.parse(node.value, mode="eval").body, module, cls)
            except SyntaxError:
                return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return best(self.ann_type(node.left, module, cls), self.ann_type(node.right, module, cls))
        if isinstance(node, ast.Subscript):
            return self._generic(node, module, cls)
        if cls is not None and tail_name(node) == "Self":
            return Ty("inst", cls=cls)
        target = self.static_target(node, module)
        if isinstance(target, ClassInfo):
            return Ty("inst", cls=target)
        if isinstance(target, Ty) and target.kind == "cls":
            return Ty("inst", cls=target.cls)
        return EXTERNAL if target == EXTERNAL else None

    def _generic(self, node: ast.Subscript, module: str, cls: ClassInfo | None) -> Ty | None:
        base = tail_name(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        types = [self.ann_type(a, module, cls) for a in args]
        if base in _WRAPPERS:
            return types[0]
        if base == "Union":
            return best(*types)
        if base == "Coroutine":
            return types[-1]
        if base in ("type", "Type"):
            return Ty("cls", cls=types[0].cls) if types[0] is not None and types[0].kind == "inst" else None
        if base in ("tuple", "Tuple"):
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
                return Ty("iter", items=(types[0],))
            return Ty("tuple", items=tuple(types))
        if base in _ITERABLES:
            return Ty("iter", items=(types[0],))
        if base in _MAPPINGS and len(types) == 2:
            return Ty("map", items=(types[0], types[1]))
        return self.ann_type(node.value, module, cls)

    def return_type(self, func: Func) -> Ty | None:
        if func.node.returns is None:
            return UNKNOWN
        return self.ann_type(func.node.returns, func.module, func.cls)

    # classes

    def mro(self, cls: ClassInfo) -> list[ClassInfo]:
        key = id(cls)
        if key not in self._mros:
            out = [cls]
            self._mros[key] = out
            for base in cls.node.bases:
                target = self.static_target(base, cls.module)
                if isinstance(target, ClassInfo):
                    out.extend(k for k in self.mro(target) if k not in out)
        return self._mros[key]

    def find_method(self, cls: ClassInfo, name: str) -> Func | None:
        for k in self.mro(cls):
            if name in k.methods:
                return k.methods[name]
        return None

    def member_type(self, cls: ClassInfo, attr: str) -> Ty | None:
        key = (id(cls), attr)
        if key not in self._members:
            self._members[key] = None
            found = [self._declared(k, attr) for k in self.mro(cls)]
            self._members[key] = next((ty for ok, ty in found if ok), UNKNOWN)
        return self._members[key]

    def _declared(self, cls: ClassInfo, attr: str) -> tuple[bool, Ty | None]:
        """Whether a class declares `attr` (body, property or `self.attr` in a method), and its type."""
        if attr in cls.methods:
            method = cls.methods[attr]
            if decorator_names(method.node) & {"property", "cached_property"}:
                return True, self.return_type(method)
            return True, None
        for node in cls.node.body:
            if isinstance(node, ast.AnnAssign) and tail_name(node.target) == attr:
                return True, self.ann_type(node.annotation, cls.module, cls)
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets):
                return True, self.infer(node.value, Scope(cls.module, None, {}))
        assigned: list[Ty | None] = []
        for method in cls.methods.values():
            for sub in local_nodes(method.node.body):
                if isinstance(sub, ast.AnnAssign) and _is_self_attr(sub.target, attr):
                    return True, self.ann_type(sub.annotation, cls.module, cls)
                if isinstance(sub, ast.Assign) and any(_is_self_attr(t, attr) for t in sub.targets):
                    assigned.append(self.infer(sub.value, Scope(method.module, method, self.env_of(method))))
        return (True, best(*assigned)) if assigned else (False, None)

    # expressions

    def infer(self, node: ast.expr, scope: Scope) -> Ty | None:
        if isinstance(node, ast.Name):
            return self.as_type(self.name_target(node.id, scope))
        if isinstance(node, ast.Attribute):
            return self.attribute_type(self.infer(node.value, scope), node.attr)
        if isinstance(node, ast.Call):
            return self.call_type(node, scope)
        if isinstance(node, (ast.Await, ast.NamedExpr)):
            return self.infer(node.value, scope)
        if isinstance(node, ast.Subscript):
            return item(self.infer(node.value, scope), node.slice)
        if isinstance(node, ast.IfExp):
            return best(self.infer(node.body, scope), self.infer(node.orelse, scope))
        if isinstance(node, ast.BoolOp):
            return best(*(self.infer(v, scope) for v in node.values))
        return None

    @staticmethod
    def as_type(target: Target) -> Ty | None:
        if isinstance(target, ClassInfo):
            return Ty("cls", cls=target)
        return target if isinstance(target, Ty) else None

    def attribute_type(self, ty: Ty | None, attr: str) -> Ty | None:
        if ty is None or ty.kind in ("ext", "unknown"):
            return ty
        if ty.kind == "mod":
            return self.as_type(self.module_target(ty.module, attr))
        if ty.kind == "inst" and ty.cls is not None:
            return self.member_type(ty.cls, attr)
        return None

    def call_type(self, node: ast.Call, scope: Scope) -> Ty | None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _ITER_BUILTINS and node.args and self.name_target(
                func.id, scope) == EXTERNAL:
            ty = self.infer(node.args[0], scope)
            return Ty("iter", items=(element(ty),)) if ty is not None and ty.kind in ("iter", "map") else None
        if isinstance(func, ast.Attribute):
            receiver = self.infer(func.value, scope)
            if receiver is not None and receiver.kind in ("iter", "map"):
                return container_method(receiver, func.attr)
        target = self.callee(func, scope)
        if isinstance(target, Func):
            return self.return_type(target)
        if isinstance(target, ClassInfo):
            return Ty("inst", cls=target)
        return target if isinstance(target, Ty) else None

    def callee(self, func: ast.expr, scope: Scope) -> Target:
        """The package def a call's function expression names; EXTERNAL for a library one; None: unknown."""
        if isinstance(func, ast.Name):
            target = self.name_target(func.id, scope)
            if isinstance(target, (Func, ClassInfo)) or target == EXTERNAL:
                return target
            if isinstance(target, Ty) and target.kind == "cls":
                return target.cls
            return None
        if isinstance(func, ast.Attribute):
            return self.method_target(self.infer(func.value, scope), func.attr, scope.module)
        return None

    def method_target(self, receiver: Ty | None, attr: str, module: str) -> Target:
        if receiver is None:
            return None
        if receiver.kind == "ext":
            return EXTERNAL
        if receiver.kind == "mod":
            target = self.module_target(receiver.module, attr)
            return target if isinstance(target, (Func, ClassInfo)) or target == EXTERNAL else None
        if receiver.kind in ("inst", "cls") and receiver.cls is not None:
            return self.find_method(receiver.cls, attr)
        if receiver.kind == "unknown":
            return self.by_name(attr, module)
        return None

    def by_name(self, attr: str, module: str) -> Func | None:
        """The fallback for a receiver of unknown type: the package's methods of that name."""
        if attr.startswith("__") or attr in _BUILTIN_METHODS:
            return None
        candidates = self.ix.methods_by_name.get(attr, [])
        if len(candidates) == 1:
            return candidates[0]
        near = self.ix.imported(module) | {module}
        modules = sorted({c.module for c in candidates if c.module in near})
        if len(modules) == 1:
            return next(c for c in candidates if c.module == modules[0])
        return None

    # function scopes

    def env_of(self, func: Func) -> dict[str, Ty | None]:
        """Types of a function's parameters and locals (and its closure's), flow-insensitive, in source order."""
        key = id(func)
        if key in self._envs:
            return self._envs[key]
        env = dict(self.env_of(func.parent)) if func.parent is not None else {}
        self._envs[key] = env
        own = self._bind_params(func, env)
        scope = Scope(func.module, func, env)
        for node in local_nodes(func.node.body):
            for name, ty in self._local_bindings(node, scope):
                if name not in own:
                    own.add(name)
                    env[name] = ty
                elif rank(ty) > rank(env.get(name)):
                    env[name] = ty
        return env

    def _bind_params(self, func: Func, env: dict[str, Ty | None]) -> set[str]:
        args = func.node.args
        positional = [*args.posonlyargs, *args.args]
        decorators = decorator_names(func.node)
        for arg in [*positional, *args.kwonlyargs]:
            ty = self.ann_type(arg.annotation, func.module, func.cls)
            if ty is None and func.cls is not None and arg is positional[0] and "staticmethod" not in decorators:
                ty = Ty("cls" if "classmethod" in decorators else "inst", cls=func.cls)
            env[arg.arg] = ty if ty is not None or arg.annotation is not None else UNKNOWN
        for extra in (args.vararg, args.kwarg):
            if extra is not None:
                env[extra.arg] = None
        return {a.arg for a in [*positional, *args.kwonlyargs]} | {
            a.arg for a in (args.vararg, args.kwarg) if a is not None}

    def _local_bindings(self, node: ast.AST, scope: Scope) -> Iterator[tuple[str, Ty | None]]:
        if isinstance(node, ast.Assign):
            ty = self.infer(node.value, scope)
            for target in node.targets:
                yield from unpack(target, ty)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id, self.ann_type(node.annotation, scope.module, scope.func.cls if scope.func else None)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            yield from unpack(node.target, element(self.infer(node.iter, scope)))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for with_item in node.items:
                if with_item.optional_vars is not None:
                    entered = self.entered(self.infer(with_item.context_expr, scope), isinstance(node, ast.AsyncWith))
                    yield from unpack(with_item.optional_vars, entered)
        elif isinstance(node, ast.NamedExpr):
            yield from unpack(node.target, self.infer(node.value, scope))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            yield node.name, self.ann_type(node.type, scope.module)

    def entered(self, ty: Ty | None, is_async: bool) -> Ty | None:
        """What `with x as y` binds to y."""
        if ty is not None and ty.kind == "iter":
            return ty.items[0]
        if ty is not None and ty.kind == "inst" and ty.cls is not None:
            enter = self.find_method(ty.cls, "__aenter__" if is_async else "__enter__")
            got = self.return_type(enter) if enter is not None else None
            return got if rank(got) == 3 else ty
        return ty

    def call_target(self, call: ast.Call, func: Func) -> Func | None:
        """The package function a call in `func` enters, if any (a class: its __init__)."""
        target = self.callee(call.func, Scope(func.module, func, self.env_of(func)))
        if isinstance(target, ClassInfo):
            target = self.find_method(target, "__init__")
        return target if isinstance(target, Func) else None


def _is_self_attr(node: ast.expr, attr: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == attr and isinstance(
        node.value, ast.Name) and node.value.id == "self"


def unpack(target: ast.expr, ty: Ty | None) -> Iterator[tuple[str, Ty | None]]:
    if isinstance(target, ast.Name):
        yield target.id, ty
    elif isinstance(target, (ast.Tuple, ast.List)):
        fits = ty is not None and ty.kind == "tuple" and len(ty.items) == len(target.elts) and not any(
            isinstance(e, ast.Starred) for e in target.elts)
        for i, elt in enumerate(target.elts):
            yield from unpack(elt, ty.items[i] if fits and ty is not None else UNKNOWN if ty == UNKNOWN else None)
    elif isinstance(target, ast.Starred):
        yield from unpack(target.value, None)


# ----- call chains -----------------------------------------------------------------------------------------

def calls_in(node: ast.AST) -> Iterator[ast.Call]:
    """Calls in evaluation order: a call's function and arguments before the call; nested scopes left out."""
    if isinstance(node, _SCOPES):
        return
    if isinstance(node, ast.Call):
        yield from calls_in(node.func)
        for arg in node.args:
            yield from calls_in(arg)
        for keyword in node.keywords:
            yield from calls_in(keyword.value)
        yield node
        return
    for child in ast.iter_child_nodes(node):
        yield from calls_in(child)


@dataclass
class Chain:
    entry: Func
    modules: list[str] = field(default_factory=list)
    steps: list[tuple[int, Func]] = field(default_factory=list)


def call_chain(resolver: Resolver, entry: Func, max_depth: int = MAX_DEPTH) -> Chain:
    chain = Chain(entry)
    seen: set[int] = set()

    def enter(module: str) -> None:
        if not chain.modules or chain.modules[-1] != module:
            chain.modules.append(module)

    def visit(func: Func, depth: int) -> None:
        seen.add(id(func))
        enter(func.module)
        chain.steps.append((depth, func))
        if depth >= max_depth:
            return
        for stmt in func.node.body:
            for call in calls_in(stmt):
                target = resolver.call_target(call, func)
                if target is not None and id(target) not in seen:
                    enter(func.module)
                    visit(target, depth + 1)

    visit(entry, 0)
    return chain


def find_tool(index: Index, name: str) -> Func | None:
    tools = f"{index.package}.tools"
    matches = [f for f in index.funcs if f.node.name == name]
    found = [f for f in matches if f.module == tools or f.module.startswith(tools + ".")] or [
        f for f in matches if "tools" in f.module.split(".")[1:]]
    return min(found, key=lambda f: (f.module, f.node.lineno)) if found else None


# ----- graph -----------------------------------------------------------------------------------------------

def strongly_connected(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one node, largest first."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in sorted(set(edges)):
        graph.setdefault(src, []).append(dst)
        graph.setdefault(dst, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def push(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(graph):
        if root in index:
            continue
        push(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    push(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found, key=lambda c: (-len(c), c))


# ----- the report ------------------------------------------------------------------------------------------

def short(module: str, package: str) -> str:
    return module[len(package) + 1:] if module.startswith(package + ".") else module


def cycles(index: Index, kinds: set[str]) -> list[dict[str, Any]]:
    edges = {pair: kind for pair, kind in index.edges.items() if kind in kinds}
    out = []
    for component in strongly_connected(index.modules, edges):
        members = set(component)
        inner = [[s, d, k] for (s, d), k in sorted(edges.items()) if s in members and d in members]
        out.append({"modules": component, "edges": inner})
    return out


def chain_report(index: Index, resolver: Resolver, name: str) -> dict[str, Any]:
    entry = find_tool(index, name)
    if entry is None:
        return {"entry": None}
    chain = call_chain(resolver, entry)
    modules = [short(m, index.package) for m in chain.modules]
    return {
        "entry": f"{entry.module}:{entry.qualname}:{entry.node.lineno}",
        "modules": modules,
        "distinct_modules": len(set(modules)),
        "transitions": len(modules) - 1,
        "functions": [{"depth": d, "function": f"{short(f.module, index.package)}:{f.qualname}"}
                      for d, f in chain.steps],
    }


def measure(root: Path, package: str) -> dict[str, Any]:
    modules = load_modules(root, package)
    index = Index(modules, package)
    resolver = Resolver(index)
    kinds = list(index.edges.values())
    classes = sorted(index.classes, key=lambda c: (-(c.node.end_lineno or c.node.lineno) + c.node.lineno,
                                                   c.module, c.qualname))
    return {
        "root": str(root),
        "package": package,
        "modules": {"count": len(modules), "lines": sum(m.lines for m in modules.values())},
        "edges": {
            "total": len(kinds), "top_level": kinds.count(TOP), "lazy": kinds.count(LAZY),
            "type_checking": kinds.count(TC),
            "list": [[s, d, k] for (s, d), k in sorted(index.edges.items())],
        },
        "cycles": {
            "all": cycles(index, {TOP, LAZY, TC}),
            "top_level": cycles(index, {TOP}),
            "runtime": cycles(index, {TOP, LAZY}),
        },
        "largest_modules": [{"module": m.name, "path": m.rel, "lines": m.lines} for m in sorted(
            modules.values(), key=lambda m: (-m.lines, m.name))[:5]],
        "largest_classes": [{"class": f"{c.module}.{c.qualname}", "lines": (c.node.end_lineno or 0) - c.node.lineno
                             + 1, "methods": len(c.methods)} for c in classes[:5]],
        "chains": {name: chain_report(index, resolver, name) for name in TOOLS},
    }


def render_cycles(title: str, found: list[dict[str, Any]], with_edges: bool) -> list[str]:
    lines = [f"   {title}: {len(found)}"]
    for component in found:
        lines.append(f"     - ({len(component['modules'])}) " + ", ".join(component["modules"]))
        if with_edges:
            lines += [f"         {s} -> {d}  [{k}]" for s, d, k in component["edges"]]
    return lines


def render(data: dict[str, Any], trace: bool) -> str:
    edges, found = data["edges"], data["cycles"]
    lines = [
        f"Layout of {data['package']} under {data['root']}",
        "",
        f"1. Modules: {data['modules']['count']}, lines: {data['modules']['lines']}",
        "",
        f"2. Internal import edges: {edges['total']}",
        f"   top-level runtime:          {edges['top_level']}",
        f"   lazy (function-local only): {edges['lazy']}",
        f"   TYPE_CHECKING only:         {edges['type_checking']}",
        "",
        "3. Import cycles (strongly connected components of more than one module)",
        *render_cycles("(a) all edges (TYPE_CHECKING and lazy included)", found["all"], True),
        *render_cycles("(b) top-level runtime edges only", found["top_level"], True),
        *render_cycles("(c) runtime edges, lazy included (no TYPE_CHECKING)", found["runtime"], False),
        "",
        "4. Largest modules",
        *[f"   {m['lines']:6} lines  {m['module']}  ({m['path']})" for m in data["largest_modules"]],
        "   Largest classes",
        *[f"   {c['lines']:6} lines  {c['methods']:3} methods  {c['class']}" for c in data["largest_classes"]],
        "",
        "5. Static call chains of MCP tools",
    ]
    for name, chain in data["chains"].items():
        if chain["entry"] is None:
            lines.append(f"   {name}: no def of that name under {data['package']}/tools")
            continue
        lines += [f"   {name}  ({chain['entry']})",
                  "     " + " -> ".join(chain["modules"]),
                  (f"     distinct modules: {chain['distinct_modules']}, transitions: {chain['transitions']}, "
                   f"functions visited: {len(chain['functions'])}")]
        if trace:
            lines += [f"       {'  ' * f['depth']}{f['function']}" for f in chain["functions"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="repository root (default: the repository this script lives in)")
    parser.add_argument("--package", default="seer_mcp", help="the package's folder under the root")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--trace", action="store_true", help="also list the functions each call chain enters")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / args.package).is_dir():
        warn(f"no package folder {root / args.package}")
        return 2
    data = measure(root, args.package)
    print(json.dumps(data, indent=2) if args.json else render(data, args.trace))
    return 0


if __name__ == "__main__":
    sys.exit(main())
