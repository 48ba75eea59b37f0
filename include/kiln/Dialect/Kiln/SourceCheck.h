//===- SourceCheck.h - Input the MLIR parser must not see -------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Some well-formed-looking .mlir text crashes upstream MLIR's parser instead
// of producing a diagnostic. Kiln's tools scan their input for it first and
// report it as an ordinary error at its position.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_KILN_SOURCECHECK_H
#define KILN_DIALECT_KILN_SOURCECHECK_H

#include "llvm/ADT/StringRef.h"

#include <cstddef>
#include <optional>
#include <string>

namespace mlir::kiln {

/// Text the parser would crash on: where it starts (a byte offset into the
/// source) and what it is.
struct UnparsableText {
  size_t offset;
  std::string message;
};

/// The first construct in `source` (.mlir text) that upstream MLIR's parser
/// crashes on, outside comments and string literals, or nothing. Today
/// (LLVM 22): a dense array of `index` (`array<index>`, `array<index:
/// ...>`), which makes Parser::parseDenseArrayAttr dereference a null
/// pointer; and `dimensions =`/`permutation =` not followed by `[` in
/// linalg.reduce, linalg.broadcast or linalg.transpose (their parsers store
/// the attribute they failed to parse: NamedAttrList::set on null); and a
/// value's result number `%name#N` above 2^20 - 1 (a forward reference
/// reserves an entry for every result up to N: out of memory, an abort).
std::optional<UnparsableText> findUnparsableText(llvm::StringRef source);

/// "line:column" (1-based) of byte `offset` in `source`.
std::pair<unsigned, unsigned> lineAndColumn(llvm::StringRef source,
                                            size_t offset);

} // namespace mlir::kiln

#endif // KILN_DIALECT_KILN_SOURCECHECK_H
