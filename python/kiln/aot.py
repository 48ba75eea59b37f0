"""kiln.aot: export @kiln.functions as an ahead-of-time compiled library.

    kiln.aot.export({"train_step": train_step, "predict": predict},
                    {"train_step": (x, y), "predict": (x,)}, "out/mlp")

traces each function for its example arguments, merges the traces into one
Kiln module (variables shared by name), and compiles it with tensor-compile's
code path: out/libmlp.so, out/mlp.h (a typed C function per entry, plus the
instance API), the Kiln runtime next to them, out/mlp.mlir (the module) and
out/mlp.safetensors (the variables' current values, under the names the
header lists). A C program loads that checkpoint and trains on with no
Python present. See docs/aot.md.
"""

import os
import re

from . import _kiln, errors


def _c_name(text, taken):
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "v"
    if not re.match(r"[A-Za-z_]", name):
        name = "v_" + name
    candidate, n = name, 1
    while candidate in taken:
        candidate = f"{name}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _stable_names(variables):
    """{store key: C name} from the variables' own names (`dense/kernel`
    -> `dense_kernel`); optimizer slots keep their primary's name plus the
    suffix kiln-expand-optimizers looks for."""
    taken, names = set(), {}
    slots = {}
    for key, var in sorted(variables.items()):
        slot_of = getattr(var, "_slot_of", None)
        if slot_of is not None:
            slots[key] = slot_of
        else:
            names[key] = _c_name(var._name, taken)
    for key, (primary, suffix) in slots.items():
        names[key] = names[primary._key()] + suffix
        taken.add(names[key])
    return names


def export(functions, example_args, path, target_cpu="native"):
    """Compiles `functions` ({entry name: @kiln.function}) traced for
    `example_args` ({entry name: tuple of arguments}, or one tuple for all)
    into `<dir>/lib<name>.so` and `<dir>/<name>.h` for `path` = `<dir>/<name>`.
    Returns {"library", "header", "module", "checkpoint"} paths."""
    directory, name = os.path.split(os.path.abspath(str(path)))
    if not _kiln.is_identifier(name):
        raise ValueError(f"the library name {name!r} must be a C identifier")
    if not functions:
        raise ValueError("export needs at least one function")
    texts, entries, variables = [], [], {}
    for entry, function in functions.items():
        if not _kiln.is_identifier(entry):
            raise ValueError(f"entry name {entry!r} must be a C identifier")
        if not hasattr(function, "get_concrete_function"):
            raise TypeError(f"{entry}: export takes @kiln.function objects")
        args = example_args[entry] if isinstance(example_args, dict) else example_args
        concrete = function.get_concrete_function(*args)
        texts.append(concrete.mlir)
        entries.append(entry)
        variables.update(concrete._variables)
    renames = _stable_names(variables)
    os.makedirs(directory, exist_ok=True)
    try:
        module = _kiln.merge_modules(texts, entries, renames)
        module_path = os.path.join(directory, name + ".mlir")
        with open(module_path, "w") as f:
            f.write(module)
        _kiln.compile_library(module, directory, name, target_cpu)
        checkpoint = os.path.join(directory, name + ".safetensors")
        store = _kiln.VariableStore()
        for key, var in variables.items():
            store.set(renames[key], var._value._impl)
        store.save(checkpoint, sorted(renames.values()))
    except _kiln.NativeError as e:
        raise errors.from_native(e) from None
    return {"library": os.path.join(directory, f"lib{name}.so"),
            "header": os.path.join(directory, f"{name}.h"),
            "module": module_path, "checkpoint": checkpoint}


__all__ = ["export"]
