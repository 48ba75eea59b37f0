"""The one source transformation Kiln makes: inside a @kiln.function,

    for i in kiln.range(n):
        BODY

becomes a nested function holding BODY and a kiln.for_loop call, so the
body is traced once into a kiln.for. The values the loop carries are the
names BODY assigns that it reads before assigning them, or that are read
outside the loop (h = step(h, x[i]); outputs = outputs.write(i, h)); they
must have values before the loop. Line numbers are kept, so errors and IR
locations point into the original file. break/continue/return inside such
a loop are not supported (an error naming the line).
"""

import ast
import inspect
import itertools
import sys
import weakref
import textwrap


# Functions converted so far (the source is parsed once).
_converted = weakref.WeakKeyDictionary()

# The name under which converted code reaches the kiln module (the user
# may have imported it under another name, or not at all).
_KILN = "_kiln_autograph_module"
_CONTROL = "_kiln_autograph_control"


def _is_kiln_range(node, namespace):
    """Whether `node` calls kiln.range, however the function spells it:
    `kiln.range`, `tf.range` after `import kiln as tf`, `range` after
    `from kiln import range` (looked up in the function's namespace)."""
    from . import control_flow
    f = node.func if isinstance(node, ast.Call) else None
    if isinstance(f, ast.Attribute) and f.attr == "range" and \
            isinstance(f.value, ast.Name):
        module = namespace.get(f.value.id)
        return module is sys.modules.get("kiln") or \
            (module is None and f.value.id == "kiln")
    if isinstance(f, ast.Name):
        return namespace.get(f.id) is control_flow.range
    return False


def _names(node, kinds):
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, kinds):
            out.add(n.id)
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and \
                ast.Load in [k for k in (kinds if isinstance(kinds, tuple) else (kinds,))]:
            out.add(n.target.id)
    return out


def _upward_exposed(statements):
    stored, exposed = set(), set()
    for st in statements:
        loads = _names(st, ast.Load)
        if isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
            loads.add(st.target.id)
        exposed |= loads - stored
        stored |= _names(st, ast.Store)
    return exposed


class _RangeLoops(ast.NodeTransformer):
    def __init__(self, function_node, filename, namespace):
        self.function = function_node
        self.filename = filename
        self.namespace = namespace
        self.counter = itertools.count()

    def visit_For(self, node):
        self.generic_visit(node)  # inner loops first
        if not _is_kiln_range(node.iter, self.namespace):
            return node
        where = f"{self.filename}:{node.lineno}"
        if not isinstance(node.target, ast.Name):
            raise SyntaxError(f"{where}: `for ... in kiln.range(...)` needs a "
                              "single loop variable")
        if node.orelse:
            raise SyntaxError(f"{where}: `else` after a kiln.range loop is not "
                              "supported")
        for n in ast.walk(ast.Module(body=node.body, type_ignores=[])):
            if isinstance(n, (ast.Break, ast.Continue, ast.Return)):
                raise SyntaxError(
                    f"{self.filename}:{n.lineno}: break, continue and return "
                    "are not supported inside a kiln.range loop (use "
                    "kiln.while_loop)")
        index = node.target.id
        assigned = set()
        for st in node.body:
            assigned |= _names(st, ast.Store)
        assigned.discard(index)
        outside = set()
        for st in self.function.body:
            if st is not node:
                outside |= _names(st, ast.Load)
        loop_loads = set()
        for st in node.body:
            loop_loads |= _names(st, ast.Load)
        # Names read outside this loop (elsewhere in the function) count too.
        outside_loads = _names(self.function, ast.Load) - (loop_loads - outside)
        carried = sorted(assigned & (_upward_exposed(node.body) | outside_loads))
        k = next(self.counter)
        body_name = f"_kiln_range_body_{k}"
        args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=a) for a in [index] + carried],
                             kwonlyargs=[], kw_defaults=[], defaults=[])
        ret = ast.Return(value=ast.Tuple(elts=[ast.Name(id=c, ctx=ast.Load()) for c in carried],
                                         ctx=ast.Load()))
        body_def = ast.FunctionDef(name=body_name, args=args, body=node.body + [ret],
                                   decorator_list=[], returns=None, type_comment=None)
        rng = node.iter.args
        start, stop, step = (ast.Constant(0), rng[0], ast.Constant(1)) if len(rng) == 1 else \
            (rng[0], rng[1], rng[2] if len(rng) > 2 else ast.Constant(1))
        call = ast.Call(
            func=ast.Attribute(value=ast.Name(id=_KILN, ctx=ast.Load()), attr="for_loop",
                               ctx=ast.Load()),
            args=[stop, ast.Name(id=body_name, ctx=ast.Load()),
                  ast.Tuple(elts=[ast.Name(id=c, ctx=ast.Load()) for c in carried],
                            ctx=ast.Load())],
            keywords=[ast.keyword(arg="start", value=start), ast.keyword(arg="step", value=step)])
        if carried:
            stmt = ast.Assign(targets=[ast.Tuple(elts=[ast.Name(id=c, ctx=ast.Store())
                                                       for c in carried], ctx=ast.Store())],
                              value=call, type_comment=None)
        else:
            stmt = ast.Expr(value=call)
        out = [body_def, stmt]
        for n in out:
            ast.copy_location(n, node)
            ast.fix_missing_locations(n)
        return out


def _stores(statements):
    """Names the statements bind (assignments, loop targets, `with ... as`),
    not looking into nested functions, lambdas, classes or comprehensions."""
    out, stack = set(), list(statements)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                          ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                          ast.GeneratorExp)):
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
        stack.extend(ast.iter_child_nodes(n))
    return out


def _jumps(statements):
    """(returns, other) for the statements: `return`s that leave the
    function, and what an `if` rewrite cannot carry (break/continue out of
    it, yield, await, global, nonlocal, definitions and imports that bind
    names)."""
    returns, other = [], []

    def walk(n, in_loop):
        if isinstance(n, ast.FunctionDef) and n.name.startswith(("_kiln_if_", "_kiln_while_")):
            return  # the functions of an inner `if` or `while` already rewritten
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                          ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            other.append(n)
            return
        if isinstance(n, ast.Lambda):
            return
        if isinstance(n, ast.Return):
            returns.append(n)
        elif isinstance(n, (ast.Break, ast.Continue)) and not in_loop:
            other.append(n)
        elif isinstance(n, (ast.Yield, ast.YieldFrom, ast.Await, ast.NamedExpr)):
            other.append(n)
        loop = in_loop or isinstance(n, (ast.For, ast.While, ast.AsyncFor))
        for child in ast.iter_child_nodes(n):
            walk(child, loop)

    for st in statements:
        walk(st, False)
    return returns, other


def _returns_to_else(statements):
    """`if c: ...; return a` followed by statements that end in `return b`
    becomes `if c: ...; return a` / `else: ...; return b` (what Python does
    anyway: the rest runs only when the branch did not return), so the
    early-return form is rewritten like an if/else. Applied to nested
    branches too."""
    out = list(statements)
    for i, st in enumerate(out):
        if isinstance(st, ast.If):
            st.body = _returns_to_else(st.body)
            st.orelse = _returns_to_else(st.orelse)
            rest = out[i + 1:]
            if (not st.orelse and st.body and isinstance(st.body[-1], ast.Return)
                    and rest and isinstance(rest[-1], ast.Return)):
                st.orelse = _returns_to_else(rest)
                return out[:i + 1]
    return out


def _load(name):
    return ast.Name(id=name, ctx=ast.Load())


def _function(name, params, body):
    """`def name(*params): body`."""
    return ast.FunctionDef(
        name=name,
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in params],
                           kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=body, decorator_list=[], returns=None, type_comment=None)


def _dispatch(helper, functions, names):
    """`control_flow.<helper>(*functions, names, state)`, the state being
    each name's current value (or the undefined marker)."""
    control = lambda attr: ast.Attribute(value=_load(_CONTROL), attr=attr, ctx=ast.Load())
    no_args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                            defaults=[])
    state = ast.Tuple(elts=[ast.Call(func=control("_value_or_undefined"),
                                     args=[ast.Lambda(args=no_args, body=_load(n))],
                                     keywords=[]) for n in names], ctx=ast.Load())
    return ast.Call(func=control(helper),
                    args=list(functions) +
                    [ast.Tuple(elts=[ast.Constant(n) for n in names], ctx=ast.Load()), state],
                    keywords=[])


def _bind(names, call):
    """`(names...) = call`, or the bare call when there are no names."""
    if not names:
        return ast.Expr(value=call)
    return ast.Assign(targets=[ast.Tuple(elts=[ast.Name(id=n, ctx=ast.Store())
                                               for n in names], ctx=ast.Store())],
                      value=call, type_comment=None)


def _placed(statements, node):
    for n in statements:
        ast.copy_location(n, node)
        ast.fix_missing_locations(n)
    return statements


class _IfStatements(ast.NodeTransformer):
    """Every `if` whose branches only assign names, or both end in a
    `return`, becomes branch functions and a call of
    control_flow._if_stmt, which picks kiln.cond for a traced tensor and
    Python's `if` for anything else. Others are left as they are (an `if`
    on a traced tensor is then the usual TypeError)."""

    def __init__(self):
        self.counter = itertools.count()

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        return node

    def visit_If(self, node):
        self.generic_visit(node)  # inner ifs first
        _, test_other = _jumps([ast.Expr(value=node.test)])
        returns, other = _jumps(node.body + node.orelse)
        if test_other or other:
            return node
        both_return = (node.orelse and isinstance(node.body[-1], ast.Return) and
                       isinstance(node.orelse[-1], ast.Return) and len(returns) == 2)
        if returns and not both_return:
            return node
        k = next(self.counter)
        names = [] if both_return else sorted(_stores(node.body + node.orelse))
        result = ast.Tuple(elts=[_load(n) for n in names], ctx=ast.Load())

        def branch(name, statements):
            body = list(statements) or [ast.Pass()]
            if not both_return:
                body = body + [ast.Return(value=result)]
            return _function(name, names, body)

        true_name, false_name = f"_kiln_if_true_{k}", f"_kiln_if_false_{k}"
        call = _dispatch("_if_stmt", [node.test, _load(true_name), _load(false_name)], names)
        stmt = ast.Return(value=call) if both_return else _bind(names, call)
        return _placed([branch(true_name, node.body), branch(false_name, node.orelse), stmt],
                       node)


class _WhileStatements(ast.NodeTransformer):
    """Every `while` whose body only assigns names (no break, continue,
    return, else clause) becomes a condition function, a body function and
    a call of control_flow._while_stmt: kiln.while_loop for a traced tensor
    condition, Python's `while` for anything else."""

    def __init__(self):
        self.counter = itertools.count()

    def visit_While(self, node):
        self.generic_visit(node)
        _, test_other = _jumps([ast.Expr(value=node.test)])
        returns, other = _jumps(node.body)
        loose = [n for st in node.body for n in _loop_jumps(st)]
        if test_other or other or returns or loose or node.orelse:
            return node
        k = next(self.counter)
        names = sorted(_stores(node.body))
        result = ast.Tuple(elts=[_load(n) for n in names], ctx=ast.Load())
        test_name, body_name = f"_kiln_while_test_{k}", f"_kiln_while_body_{k}"
        test_def = _function(test_name, names, [ast.Return(value=node.test)])
        body_def = _function(body_name, names, list(node.body) + [ast.Return(value=result)])
        call = _dispatch("_while_stmt", [_load(test_name), _load(body_name)], names)
        return _placed([test_def, body_def, _bind(names, call)], node)


def _loop_jumps(node):
    """break/continue in `node` that belong to an enclosing loop (not to a
    loop inside it)."""
    if isinstance(node, (ast.Break, ast.Continue)):
        return [node]
    if isinstance(node, (ast.For, ast.While, ast.AsyncFor, ast.FunctionDef,
                         ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
        return []
    return [j for child in ast.iter_child_nodes(node) for j in _loop_jumps(child)]


def convert(function, _seen=None):
    """`function` with its kiln.range loops rewritten, or itself when it has
    none or its source is not available. Python functions it calls by name
    (globals or closure variables) are converted the same way, so a helper
    with a kiln.range loop works too."""
    if _seen is None:
        # A top-level conversion: each function is converted once.
        if function not in _converted:
            _converted[function] = convert(function, {})
        return _converted[function]
    if function in _seen:
        return _seen[function]
    _seen[function] = function
    if not inspect.isfunction(function):
        return function
    try:
        source = textwrap.dedent(inspect.getsource(function))
        filename = inspect.getsourcefile(function) or "<unknown>"
        first_line = inspect.getsourcelines(function)[1]
    except (OSError, TypeError):
        return function
    tree = ast.parse(source)
    fn = tree.body[0]
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return function
    fn.decorator_list = []
    # What the function's free names are bound to (closure values and, for
    # the rewrite, converted helpers and the kiln module); the rest stay the
    # module's live globals.
    free = {}
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
        try:
            free[name] = cell.cell_contents
        except ValueError:
            pass
    namespace = dict(function.__globals__)
    namespace.update(free)
    # Helpers called by name: converted if they (or what they call) loop.
    changed = False
    for name in _names(fn, ast.Load):
        value = namespace.get(name)
        if inspect.isfunction(value) and value is not function:
            converted = convert(value, _seen)
            if converted is not value:
                namespace[name] = free[name] = converted
                changed = True
    if not changed and not any((isinstance(n, ast.For) and _is_kiln_range(n.iter, namespace))
                               or isinstance(n, (ast.If, ast.While)) for n in ast.walk(fn)):
        return function
    free[_KILN] = sys.modules["kiln"]  # what the rewritten loops call
    free[_CONTROL] = sys.modules["kiln.control_flow"]  # and the rewritten ifs
    # Lines of the file, not of the function's source, in errors and in the
    # converted code's locations.
    ast.increment_lineno(tree, first_line - 1)
    fn.body = _returns_to_else(fn.body)
    _IfStatements().visit(fn)
    _WhileStatements().visit(fn)
    _RangeLoops(fn, filename, namespace).visit(fn)
    # The rewritten function is made by a factory whose parameters are the
    # free names, executed with the module's own globals: later changes of
    # a global are seen, and a method's zero-argument super() finds its
    # __class__ (a copy of the globals would give neither).
    factory = ast.FunctionDef(
        name="_kiln_autograph_factory",
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in free],
                           kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=[fn, ast.Return(value=ast.Name(id=fn.name, ctx=ast.Load()))],
        decorator_list=[], returns=None, type_comment=None)
    ast.copy_location(factory, fn)
    tree.body = [factory]
    ast.fix_missing_locations(tree)
    scratch = {}
    exec(compile(tree, filename, "exec"), function.__globals__, scratch)
    converted = scratch["_kiln_autograph_factory"](**free)
    _seen[function] = converted
    return converted
