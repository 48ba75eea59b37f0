//===- Manifest.h - The Kiln manifest: parser, printer, names ---*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The manifest is the text a compiled module exports as `kiln_manifest`: its
// variables and the signature of every entry point (format in
// docs/runtime.md). This header is the one reader and writer of that text,
// shared by the runtime (which parses it when it loads a module) and the
// compiler (which prints it). Like the runtime, it is plain C++17 with
// nothing from MLIR or LLVM; it reports errors as kiln_status_t.
//
// Link the KilnManifest target to use it: a static library that brings the
// runtime's shared library (for kiln_status_* and kiln_dtype_*) with it.
// Its functions are thread-safe: they touch nothing but their arguments.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MANIFEST_H
#define KILN_RUNTIME_MANIFEST_H

#include "kiln/Runtime/Runtime.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::runtime {

/// The newest manifest version. parseManifest reads versions 1 to this one;
/// printManifest writes the oldest version that holds the manifest (4, or
/// 5 when an entry is atomic), so older runtimes load what they can run.
constexpr uint32_t kManifestVersion = 5;

/// How an open extent (`?` in the text: any size at call time) is stored in
/// TensorSpec::shape, and shown by kiln_entry_arg.
constexpr int64_t kDynamicExtent = -1;

/// The declared dtype and shape of an argument or a variable.
struct TensorSpec {
  kiln_dtype_t dtype = KILN_F32;
  /// The extents; kDynamicExtent for an open one (inputs and outputs only).
  std::vector<int64_t> shape;
};

/// A variable the module declares (a `variable` line).
struct VariableSpec {
  std::string name;
  TensorSpec spec;
};

/// A variable an entry binds (a `var` line): one of the module's variables,
/// read (`r`) or assigned in place (`rw`).
struct BindingSpec {
  std::string name;
  bool writes = false;
  TensorSpec spec;
};

/// The signature of one entry point.
struct EntrySpec {
  std::string name;
  /// The device type the entry was compiled for (version 4; cpu before).
  kiln_device_type_t device = KILN_DEVICE_CPU;
  std::vector<TensorSpec> inputs, outputs;
  std::vector<BindingSpec> variables;
  /// The messages of the shape function's checks: its result k > 0 means
  /// that check k - 1 failed.
  std::vector<std::string> checks;
  /// Version 5 (an `atomic` line): the entry assigns variables and its code
  /// checks values at run time; when a check fails, the runtime puts the
  /// variables it assigns back as they were before the call.
  bool atomic = false;
};

/// A whole manifest.
struct Manifest {
  /// The version that was read (printManifest always writes the newest).
  uint32_t version = kManifestVersion;
  std::vector<VariableSpec> variables;
  std::vector<EntrySpec> entries;
};

/// Parses manifest `text` (NUL-terminated, versions 1 to kManifestVersion)
/// into `out`, which should be empty. Parsing is strict: unknown keywords,
/// extra words or spaces, blank lines, bad numbers, wrong counts, duplicate
/// names, undeclared or mismatched variables and unknown dtypes or devices
/// are KILN_DATA_LOSS naming the line; a newer version is
/// KILN_UNIMPLEMENTED. On failure `out` holds what was read before the bad
/// line. Ownership: `text` is borrowed; the caller owns the status.
kiln_status_t parseManifest(const char *text, Manifest &out);

/// Writes `manifest` as text (version 4, or 5 if an entry is atomic), one line per
/// declaration, ending in a newline. A check message is written on one
/// line: newlines, tabs and other control characters become spaces, runs of
/// spaces collapse to one, leading and trailing spaces go, and an empty
/// message becomes "shape check failed". Printing checks nothing else:
/// parseManifest gives back the same fields if the manifest is valid (C
/// identifiers as names, variables declared before use, and so on).
std::string printManifest(const Manifest &manifest);

/// Whether `name` is a C identifier ([A-Za-z_][A-Za-z0-9_]*): what entry
/// and variable names must be, since they become symbol names
/// (kiln_entry_NAME) and safetensors keys. The one identifier check of the
/// project.
bool isIdentifier(std::string_view name);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_MANIFEST_H
