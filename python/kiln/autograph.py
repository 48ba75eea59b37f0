"""AutoGraph: the source transformation that lets a @kiln.function (and the
functions, methods and layers' call methods it reaches) use Python's own
control flow on tensors, as TensorFlow's AutoGraph does.

The function's source is parsed, rewritten and compiled again with its
original line numbers (errors and IR locations point into the user's file):

- `a and b`, `a or b`, `not a` and `x if c else y` become calls that pick
  kiln.cond / kiln.logical_not for a traced tensor and Python's meaning for
  anything else;
- `break` and `continue` become flags (the rest of the loop body runs
  under `if not flag`, the loop's condition tests the break flag);
- `for` and `while` loops become a body function (and a test function)
  plus a call of control_flow._for_stmt / _while_stmt, which run a Python
  loop for Python values and build one kiln.for / kiln.while for a traced
  tensor condition, a kiln.range, a `range` of a traced tensor, a traced
  tensor (iterated over its first dimension) or a TensorArray;
- `if` statements become two branch functions and a call of
  control_flow._if_stmt (kiln.cond for a traced tensor);
- every call goes through control_flow._call, which converts the Python
  function or method it reaches (once; library code is left alone).

The values a loop or an `if` carries are the names it assigns that are read
later (after it, in a later iteration, or elsewhere in the function);
names only used inside stay local. A `return` inside a loop, or under
an `if` with statements after it, becomes a return flag and value
(TensorFlow's rewrite). Constructs a rewrite cannot carry (`yield`,
`global`/`nonlocal`, definitions and imports inside a loop or branch)
leave the statement as Python wrote it.
`kiln.autograph.to_code(f)` shows the converted source.
"""

import ast
import inspect
import os
import itertools
import sys
import textwrap
import types
import weakref


# Functions converted so far (the source is parsed once).
_converted = weakref.WeakKeyDictionary()

# The name under which converted code reaches kiln.control_flow (the user
# may have imported kiln under another name, or not at all).
_CONTROL = "_kiln_autograph_control"

# Calls left as they are: these need the caller's own frame.
_FRAME_CALLS = {"super", "locals", "globals", "vars", "eval", "exec", "dir"}

# Library code is not converted (as TensorFlow leaves its own and NumPy's):
# Kiln's own modules, and anything installed (the standard library, site-
# or dist-packages: Debian's python3-* packages).
_LIBRARIES = ("kiln", "numpy", "builtins", "functools", "itertools", "abc",
              "typing", "collections", "_pytest", "pytest")


def _installed_directories():
    import sysconfig
    paths = sysconfig.get_paths()
    found = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.join(os.path.realpath(p), "") for p in found if p)


_INSTALLED = _installed_directories()


def _reads(node):
    """Names `node` reads (an augmented assignment's target counts)."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            out.add(n.target.id)
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


def _exposed(statements, stored=frozenset()):
    """(names read before the statements assign them, names they surely
    assign). Branches count for what both assign; loop bodies may not run."""
    exposed, stored = set(), set(stored)
    for st in statements:
        if isinstance(st, ast.If):
            exposed |= _reads(st.test) - stored
            e1, s1 = _exposed(st.body, stored)
            e2, s2 = _exposed(st.orelse, stored)
            exposed |= e1 | e2
            stored |= s1 & s2
        elif isinstance(st, (ast.For, ast.AsyncFor)):
            exposed |= _reads(st.iter) - stored
            e, _ = _exposed(st.body, stored | _stores([st.target]))
            exposed |= e | (_exposed(st.orelse, stored)[0])
        elif isinstance(st, ast.While):
            exposed |= _reads(st.test) - stored
            exposed |= _exposed(st.body, stored)[0] | _exposed(st.orelse, stored)[0]
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            for item in st.items:
                exposed |= _reads(item.context_expr) - stored
                stored |= _stores([item.optional_vars] if item.optional_vars else [])
            e, stored = _exposed(st.body, stored)
            exposed |= e
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A nested function reads its free names when it is called: as
            # if here (the rewrites call them where they are defined).
            params = {a.arg for a in st.args.args + st.args.posonlyargs +
                      st.args.kwonlyargs}
            inner = _reads(ast.Module(body=st.body, type_ignores=[]))
            exposed |= inner - params - _stores(st.body) - stored
            stored.add(st.name)
        else:
            exposed |= _reads(st) - stored
            stored |= _stores([st])
    return exposed, stored


def _jumps(statements):
    """(returns, other) for the statements: `return`s that leave the
    function, and what a rewrite cannot carry (break/continue out of them,
    yield, await, global, nonlocal, del, definitions and imports that bind
    names)."""
    returns, other = [], []

    def walk(n, in_loop):
        if isinstance(n, ast.FunctionDef) and n.name.startswith("_kiln_"):
            return  # the functions of an inner statement already rewritten
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                          ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal,
                          ast.Delete)):
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
            # (`if a: return x / elif b: return y` then `return z`: the rest
            # runs after whichever else branch did not return, so it goes
            # at the end of the else chain)
            if (st.body and _always_returns(st.body) and not _always_returns(st.orelse)
                    and rest and isinstance(rest[-1], ast.Return)):
                st.orelse = _returns_to_else(list(st.orelse) + rest)
                return out[:i + 1]
    return out


def _tail_returns(statements):
    """Whether every `return` of a block ends it, where an if/else may hold
    returns only as branches that both end in one (what the `if` rewrite
    takes); else returns are lowered to flags (_lower_returns)."""
    for st in statements[:-1]:
        if _own_returns([st]):
            return False
    if not statements or not _own_returns(statements[-1:]):
        return True
    last = statements[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return _tail_returns(last.body) and _tail_returns(last.orelse) and (
            _always_returns(last.body) and _always_returns(last.orelse))
    return True   # (a with/try/loop holding returns: left as it is)


def _always_returns(statements):
    """Whether a block ends in a return on every path (a return, or an
    if/else whose branches both do)."""
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, ast.Return):
        return True
    return isinstance(last, ast.If) and _always_returns(last.body) and \
        _always_returns(last.orelse)


def _load(name):
    return ast.Name(id=name, ctx=ast.Load())


def _control(attr):
    return ast.Attribute(value=_load(_CONTROL), attr=attr, ctx=ast.Load())


def _thunk(expr):
    """`lambda: expr`."""
    return ast.Lambda(args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                         kw_defaults=[], defaults=[]), body=expr)


def _function(name, params, body):
    """`def name(*params): body`."""
    return ast.FunctionDef(
        name=name,
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in params],
                           kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=body, decorator_list=[], returns=None, type_comment=None)


def _dispatch(helper, arguments, names):
    """`control_flow.<helper>(*arguments, names, state)`, the state being
    each name's current value (or the undefined marker)."""
    state = ast.Tuple(elts=[ast.Call(func=_control("_value_or_undefined"),
                                     args=[_thunk(_load(n))], keywords=[])
                            for n in names], ctx=ast.Load())
    return ast.Call(func=_control(helper),
                    args=list(arguments) +
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


def _assign(name, value):
    return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())],
                      value=ast.Constant(value), type_comment=None)


def _not(name):
    return ast.UnaryOp(op=ast.Not(), operand=_load(name))


class _Calls(ast.NodeTransformer):
    """f(args) -> control_flow._call(f, args): the function reached is
    converted too (TensorFlow's converted_call)."""

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in _FRAME_CALLS:
            return node
        return ast.copy_location(
            ast.Call(func=_control("_call"), args=[node.func] + node.args,
                     keywords=node.keywords), node)


class _Expressions(ast.NodeTransformer):
    """and/or/not and conditional expressions."""

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        helper = "_and" if isinstance(node.op, ast.And) else "_or"
        return ast.copy_location(
            ast.Call(func=_control(helper), args=[_thunk(v) for v in node.values],
                     keywords=[]), node)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if not isinstance(node.op, ast.Not):
            return node
        return ast.copy_location(
            ast.Call(func=_control("_not"), args=[node.operand], keywords=[]), node)

    def visit_Assert(self, node):
        self.generic_visit(node)
        args = [node.test] + ([_thunk(node.msg)] if node.msg is not None else [])
        return ast.copy_location(
            ast.Expr(value=ast.Call(func=_control("_assert"), args=args, keywords=[])), node)

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return ast.copy_location(
            ast.Call(func=_control("_if_exp"),
                     args=[node.test, _thunk(node.body), _thunk(node.orelse)],
                     keywords=[]), node)


def _own_jumps(statements, kinds):
    """The break/continue statements (of `kinds`) that belong to the loop
    whose body is `statements`."""
    found, stack = [], list(statements)
    while stack:
        n = stack.pop()
        if isinstance(n, kinds):
            found.append(n)
        if isinstance(n, (ast.For, ast.While, ast.AsyncFor, ast.FunctionDef,
                          ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(n))
    return found


def _guarded(statements, kind, flag):
    """The statements with each `kind` jump replaced by `flag = True` and
    what follows a statement that may jump run only under `if not flag`."""
    out = []
    for i, st in enumerate(statements):
        if isinstance(st, kind):
            out.append(ast.copy_location(_assign(flag, True), st))
            return out  # the rest cannot run
        if not _own_jumps([st], kind):
            out.append(st)
            continue
        if isinstance(st, ast.If):
            st.body = _guarded(st.body, kind, flag) or [ast.Pass()]
            st.orelse = _guarded(st.orelse, kind, flag)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            st.body = _guarded(st.body, kind, flag) or [ast.Pass()]
        elif isinstance(st, ast.Try):
            for part in ("body", "orelse", "finalbody"):
                setattr(st, part, _guarded(getattr(st, part), kind, flag))
            for handler in st.handlers:
                handler.body = _guarded(handler.body, kind, flag) or [ast.Pass()]
            st.body = st.body or [ast.Pass()]
        out.append(st)
        rest = _guarded(statements[i + 1:], kind, flag)
        if rest:
            out.append(_placed([ast.If(test=_not(flag), body=rest, orelse=[])],
                               statements[i + 1])[0])
        return out
    return out


_DO_RETURN, _RETVAL = "_kiln_do_return", "_kiln_retval"


def _own_returns(statements):
    """The `return`s of these statements (not of nested definitions)."""
    found, stack = [], list(statements)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Return):
            found.append(n)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                          ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(n))
    return found


def _returns_in_loops(statements):
    """Whether a `return` sits inside a loop (without an else clause, which
    the rewrite leaves alone) of these statements."""
    for n in ast.walk(ast.Module(body=statements, type_ignores=[])):
        if isinstance(n, (ast.For, ast.While)) and not n.orelse and _own_returns(n.body):
            return True
    return False


def _lower_returns(statements):
    """TensorFlow's rewrite of `return` for functions that return from
    inside a loop: `return x` becomes `retval = x; do_return = True` (and a
    `break` in a loop; enclosing loops break too), what follows a statement
    that may have returned runs under `if not do_return`, and the function
    ends with `return retval`. retval starts undefined: a loop on a tensor
    traces its body once to learn its type (control_flow._learn_shapes)."""

    def assign(name, value):
        return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value,
                          type_comment=None)

    def rewrite(stmts, in_loop):
        out = []
        for i, st in enumerate(stmts):
            if isinstance(st, ast.Return):
                done = [assign(_RETVAL, st.value or ast.Constant(None)),
                        assign(_DO_RETURN, ast.Constant(True))]
                if in_loop:
                    done.append(ast.Break())
                out.extend(_placed(done, st))
                return out  # the rest cannot run
            if not _own_returns([st]):
                out.append(st)
                continue
            if isinstance(st, ast.If):
                st.body = rewrite(st.body, in_loop) or [ast.Pass()]
                st.orelse = rewrite(st.orelse, in_loop)
                out.append(st)
            elif isinstance(st, (ast.For, ast.While)) and not st.orelse:
                st.body = rewrite(st.body, True) or [ast.Pass()]
                out.append(st)
                if in_loop:  # leave the enclosing loop too
                    out.append(_placed([ast.If(test=_load(_DO_RETURN), body=[ast.Break()],
                                               orelse=[])], st)[0])
            elif isinstance(st, (ast.With, ast.AsyncWith)):
                st.body = rewrite(st.body, in_loop) or [ast.Pass()]
                out.append(st)
            else:
                out.append(st)  # (a try, a loop with else: left as they are)
                continue
            rest = rewrite(stmts[i + 1:], in_loop)
            if rest:
                out.append(_placed([ast.If(test=_not(_DO_RETURN), body=rest, orelse=[])],
                                   stmts[i + 1])[0])
            return out
        return out

    first = statements[0]
    start = _placed([assign(_DO_RETURN, ast.Constant(False)),
                     assign(_RETVAL, _control("_UNDEFINED_RETURN"))], first)
    # (Whether some path may end without a return: a traced flag there
    # means a tensor decided between a value and None.)
    falls_off = not _always_returns(statements)
    body = rewrite(statements, False)
    end = _placed([ast.Return(value=ast.Call(
        func=_control("_return_value"),
        args=[_load(_RETVAL), _load(_DO_RETURN), ast.Constant(falls_off)], keywords=[]))],
        statements[-1])
    return start + body + end


class _LoopJumps(ast.NodeTransformer):
    """break/continue -> flags (TensorFlow's rewrite): a `continue` sets a
    flag cleared at the top of each iteration and the rest of the body runs
    under `if not flag`; a `break` sets a flag the loop's condition tests
    too (a `for` loop gets it as its extra test)."""

    def __init__(self):
        self.counter = itertools.count()

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        return node

    def _lower(self, node):
        self.generic_visit(node)  # inner loops first
        returns, other = _jumps(node.body)
        if node.orelse or returns or \
                any(not isinstance(n, (ast.Break, ast.Continue)) for n in other):
            return [node], None  # stays a Python loop: its jumps too
        k = next(self.counter)
        before = []
        if _own_jumps(node.body, ast.Continue):
            flag = f"_kiln_continue_{k}"
            node.body = [_placed([_assign(flag, False)], node.body[0])[0]] + \
                _guarded(node.body, ast.Continue, flag)
        broke = None
        if _own_jumps(node.body, ast.Break):
            broke = f"_kiln_break_{k}"
            node.body = _guarded(node.body, ast.Break, broke) or [ast.Pass()]
            before = _placed([_assign(broke, False)], node)
        return before + [node], broke

    def visit_While(self, node):
        out, broke = self._lower(node)
        if broke:
            node.test = ast.copy_location(
                ast.BoolOp(op=ast.And(), values=[_not(broke), node.test]), node.test)
        return out

    def visit_For(self, node):
        out, broke = self._lower(node)
        if broke:
            # (Not in the tree until _Loops places it: already converted.)
            node._kiln_extra_test = ast.Call(func=_control("_not"), args=[_load(broke)],
                                             keywords=[])
        return out


def _read_outside(root, node):
    """Names read in the function `root` outside `node`."""
    inside = {id(n) for n in ast.walk(node)}
    out = set()
    for n in ast.walk(root):
        if id(n) in inside:
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            out.add(n.target.id)
    return out


def _bound_outside(root, node):
    """Names bound anywhere in the function `root` outside `node`: the
    parameters of it and of the functions inside it (the loop bodies the
    rewrite made, nested definitions), what any statement outside `node`
    assigns, and global/nonlocal names. What only `node` binds (an inner
    if's temporaries, a comprehension's variable there) is not among them."""
    inside = {id(n) for n in ast.walk(node)}
    out = set()
    for n in ast.walk(root):
        if id(n) in inside:
            continue
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = n.args
            out |= {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
            out |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            out |= set(n.names)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
    return out


class _Loops(ast.NodeTransformer):
    """`while` and `for` -> functions and a _while_stmt / _for_stmt call.
    Loops holding what the rewrite cannot carry stay Python loops."""

    def __init__(self, root):
        self.root = root
        self.counter = itertools.count()

    def _rewritable(self, node):
        returns, other = _jumps(node.body)
        return not (returns or other or node.orelse or
                    _own_jumps(node.body, (ast.Break, ast.Continue)))

    def _carried(self, node, also=()):
        target = _stores([node.target]) if isinstance(node, ast.For) else set()
        exposed, _ = _exposed(node.body, target)
        stored = _stores(node.body) | target  # (Python leaves the target set)
        return sorted(stored & (exposed | _read_outside(self.root, node) | set(also)))

    def visit_While(self, node):
        self.generic_visit(node)
        if not self._rewritable(node):
            return node
        k = next(self.counter)
        names = self._carried(node, _reads(node.test))
        result = ast.Tuple(elts=[_load(n) for n in names], ctx=ast.Load())
        test_name, body_name = f"_kiln_while_test_{k}", f"_kiln_while_body_{k}"
        test_def = _function(test_name, names, [ast.Return(value=node.test)])
        body_def = _function(body_name, names, list(node.body) + [ast.Return(value=result)])
        call = _dispatch("_while_stmt", [_load(test_name), _load(body_name)], names)
        return _placed([test_def, body_def, _bind(names, call)], node)

    def visit_For(self, node):
        self.generic_visit(node)
        if not self._rewritable(node):
            return node
        k = next(self.counter)
        extra = getattr(node, "_kiln_extra_test", None)
        names = self._carried(node, _reads(extra) if extra is not None else ())
        result = ast.Tuple(elts=[_load(n) for n in names], ctx=ast.Load())
        item = f"_kiln_item_{k}"
        body_name, test_name = f"_kiln_for_body_{k}", f"_kiln_for_test_{k}"
        unpack = ast.Assign(targets=[node.target], value=_load(item), type_comment=None)
        body_def = _function(body_name, [item] + names,
                             [unpack] + list(node.body) + [ast.Return(value=result)])
        out = [body_def]
        if extra is not None:
            out.append(_function(test_name, names, [ast.Return(value=extra)]))
        iterable = node.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and \
                iterable.func.attr == "_call" and iterable.args:
            # kiln.range(...), and range(n) of a traced tensor, are loop
            # ranges (decided when it runs: the names may be rebound).
            iterable = ast.Call(func=_control("_range"), args=iterable.args,
                                keywords=iterable.keywords)
        test = _load(test_name) if extra is not None else ast.Constant(None)
        call = _dispatch("_for_stmt", [iterable, test, _load(body_name)], names)
        out.append(_bind(names, call))
        return _placed(out, node)


class _IfStatements(ast.NodeTransformer):
    """Every `if` whose branches only assign names, or both end in a
    `return`, becomes branch functions and a call of
    control_flow._if_stmt, which picks kiln.cond for a traced tensor and
    Python's `if` for anything else. The names it carries are those its
    branches assign that are read outside it. Other `if`s are left as they
    are (an `if` on a traced tensor is then the usual TypeError)."""

    def __init__(self, root):
        self.root = root
        self.counter = itertools.count()

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
        # A name a branch assigns is state when it is read after the `if`,
        # or when a branch reads it before assigning it and it has a value
        # from outside the `if` (`m = f(m)` inside the branch); names bound
        # only inside the `if` (an inner if's temporaries) stay local.
        exposed = (_exposed(node.body)[0] | _exposed(node.orelse)[0]) & \
            _bound_outside(self.root, node)
        # (Both branches returning: the names they assign that have values
        # from outside are their parameters, and nothing is carried out.)
        names = sorted(_stores(node.body + node.orelse) & exposed) if both_return else \
            sorted(_stores(node.body + node.orelse) & (_read_outside(self.root, node) | exposed))
        result = ast.Tuple(elts=[_load(n) for n in names], ctx=ast.Load())

        def branch(name, statements):
            body = list(statements) or [ast.Pass()]
            if not both_return:
                body = body + [ast.Return(value=result)]
            return _function(name, names, body)

        true_name, false_name = f"_kiln_if_true_{k}", f"_kiln_if_false_{k}"
        call = _dispatch("_if_stmt", [node.test, _load(true_name), _load(false_name)], names)
        if both_return:
            call.keywords.append(ast.keyword(arg="returns", value=ast.Constant(True)))
        stmt = ast.Return(value=call) if both_return else _bind(names, call)
        return _placed([branch(true_name, node.body), branch(false_name, node.orelse), stmt],
                       node)


def _convertible(function):
    """Whether AutoGraph converts `function` (user code with source)."""
    if not inspect.isfunction(function):
        return False
    if getattr(function, "_kiln_autograph", False) or hasattr(function, "__wrapped__"):
        return False
    module = getattr(function, "__module__", None) or ""
    if module.split(".")[0] in _LIBRARIES:
        return False
    filename = function.__code__.co_filename
    if filename.startswith("<"):  # (frozen modules, code made by exec)
        return False
    filename = os.path.realpath(filename)
    return not (filename.startswith(_INSTALLED) or "/site-packages/" in filename
                or "/dist-packages/" in filename)


def converted(f):
    """`f` as converted code calls it: a user function or method converted,
    anything else as it is."""
    if inspect.ismethod(f) and _convertible(f.__func__):
        c = convert(f.__func__)
        return f if c is f.__func__ else types.MethodType(c, f.__self__)
    if _convertible(f):
        return convert(f)
    return f


def to_code(function):
    """The source AutoGraph runs for `function` (a Python function, a
    method or a @kiln.function)."""
    # (A @kiln.function: the Python function it wraps.)
    function = getattr(function, "_python_function", function)
    if inspect.ismethod(function):
        function = function.__func__
    c = convert(function)
    source = getattr(c, "_kiln_autograph_source", None)
    if source is None:
        return textwrap.dedent(inspect.getsource(function))
    return source


def _explicit_super(fn, function):
    """Zero-argument super() in method `fn` becomes super(__class__, self):
    converted branches and loop bodies are functions of their own, in which
    super() would find no arguments."""
    args = fn.args.posonlyargs + fn.args.args
    if not args or "__class__" not in function.__code__.co_freevars:
        return

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                  ast.ClassDef)):
                continue  # (their own super())
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and \
                    child.func.id == "super" and not child.args and not child.keywords:
                child.args = [ast.Name(id="__class__", ctx=ast.Load()),
                              ast.Name(id=args[0].arg, ctx=ast.Load())]
            visit(child)
    for statement in fn.body:
        visit(statement)


def convert(function):
    """`function` with its control flow rewritten (see the module's
    docstring), or itself when its source is not available or it is a
    generator or coroutine. Each function is converted once."""
    if not inspect.isfunction(function):
        return function
    if function in _converted:
        return _converted[function]
    _converted[function] = function  # (recursion, and failures: as it is)
    try:
        source = textwrap.dedent(inspect.getsource(function))
        filename = inspect.getsourcefile(function) or "<unknown>"
        first_line = inspect.getsourcelines(function)[1]
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return function
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef) or fn.name != function.__name__:
        return function  # a lambda, or a decorator's wrapper
    own = [n for n in ast.walk(ast.Module(body=fn.body, type_ignores=[]))
           if isinstance(n, (ast.Yield, ast.YieldFrom, ast.Await))]
    if own:
        return function
    fn.decorator_list = []
    # The original function's defaults are used (not evaluated again).
    fn.args.defaults = [ast.Constant(None) for _ in fn.args.defaults]
    fn.args.kw_defaults = [d if d is None else ast.Constant(None)
                           for d in fn.args.kw_defaults]
    # (A function defined inside converted code, converted again from its
    # source when called, already closes over the control module.)
    free = [n for n in function.__code__.co_freevars if n != _CONTROL]
    # Lines of the file, not of the function's source, in errors and in the
    # converted code's locations.
    ast.increment_lineno(tree, first_line - 1)
    _explicit_super(fn, function)
    _Calls().visit(fn)
    if _returns_in_loops(fn.body):
        fn.body = _lower_returns(fn.body)
    else:
        fn.body = _returns_to_else(fn.body)
        if not _tail_returns(fn.body):
            # (A return with statements after it that an else cannot take:
            # `if a: ...; if b: return x; more; ...`. TensorFlow's flags.)
            fn.body = _lower_returns(fn.body)
    _LoopJumps().visit(fn)
    _Expressions().visit(fn)
    _Loops(fn).visit(fn)
    _IfStatements(fn).visit(fn)
    # The rewritten function is made by a factory whose parameters are the
    # free names, executed with the module's own globals: later changes of
    # a global are seen. Its closure is then the original function's own
    # cells (a closure variable changed later is seen, `nonlocal` writes
    # reach the enclosing function, zero-argument super() finds __class__).
    factory = ast.FunctionDef(
        name="_kiln_autograph_factory",
        args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in free + [_CONTROL]],
                           kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=[fn, ast.Return(value=_load(fn.name))],
        decorator_list=[], returns=None, type_comment=None)
    ast.copy_location(factory, fn)
    tree.body = [factory]
    ast.fix_missing_locations(tree)
    scratch = {}
    exec(compile(tree, filename, "exec"), function.__globals__, scratch)
    made = scratch["_kiln_autograph_factory"](*([None] * len(free)),
                                              sys.modules["kiln.control_flow"])
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or ()))
    closure = tuple(cells.get(name, cell) for name, cell in
                    zip(made.__code__.co_freevars, made.__closure__ or ()))
    result = types.FunctionType(made.__code__, function.__globals__, function.__name__,
                                function.__defaults__, closure)
    result.__kwdefaults__ = function.__kwdefaults__
    result.__dict__.update(function.__dict__)
    result.__qualname__ = function.__qualname__
    result.__doc__ = function.__doc__
    result._kiln_autograph_source = ast.unparse(fn)
    _converted[function] = result
    return result
