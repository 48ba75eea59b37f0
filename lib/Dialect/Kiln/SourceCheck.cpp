//===- SourceCheck.cpp - Input the MLIR parser must not see ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/SourceCheck.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir::kiln;

namespace {

bool isIdentifierChar(char c) {
  return llvm::isAlnum(c) || c == '_' || c == '$' || c == '.';
}

/// The largest `#N` in a value's name that reaches MLIR's parser.
constexpr uint64_t kMaxResultNumber = (1u << 20) - 1;

/// Skips spaces and tabs/newlines from `i`.
size_t skipSpace(llvm::StringRef s, size_t i) {
  while (i < s.size() && llvm::isSpace(s[i]))
    ++i;
  return i;
}

} // namespace

std::optional<UnparsableText>
mlir::kiln::findUnparsableText(llvm::StringRef source) {
  for (size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    if (c == '/' && i + 1 < source.size() && source[i + 1] == '/') {
      i = source.find('\n', i);
      if (i == llvm::StringRef::npos)
        break;
      continue;
    }
    if (c == '"') { // a string literal, with backslash escapes
      for (++i; i < source.size() && source[i] != '"'; ++i)
        if (source[i] == '\\')
          ++i;
      continue;
    }
    if (i > 0 && isIdentifierChar(source[i - 1]))
      continue;
    // `%name#N`: a use of a value not yet defined makes the parser hold a
    // forward reference for every result up to N (~16 bytes each), so a
    // huge N exhausts the memory and aborts the process.
    if (c == '%') {
      size_t j = i + 1;
      while (j < source.size() && (isIdentifierChar(source[j]) || source[j] == '-'))
        ++j;
      if (j > i + 1 && j < source.size() && source[j] == '#') {
        size_t k = j + 1;
        uint64_t number = 0;
        while (k < source.size() && llvm::isDigit(source[k]) &&
               number <= kMaxResultNumber)
          number = number * 10 + (source[k++] - '0');
        if (number > kMaxResultNumber)
          return UnparsableText{
              i, ("the result number in '" + source.slice(i, j + 1) +
                  "...' is above " + llvm::Twine(kMaxResultNumber) +
                  ": MLIR's parser reserves memory for every result up to "
                  "it and runs out")
                     .str()};
      }
    }
    // `dimensions = ...` / `permutation = ...` of linalg.reduce, broadcast
    // and transpose in their custom syntax: anything but a list there makes
    // the parser use an attribute it never built.
    for (llvm::StringRef keyword : {"dimensions", "permutation"}) {
      if (!source.substr(i).starts_with(keyword) ||
          (i + keyword.size() < source.size() &&
           isIdentifierChar(source[i + keyword.size()])))
        continue;
      size_t j = skipSpace(source, i + keyword.size());
      if (j >= source.size() || source[j] != '=')
        continue;
      j = skipSpace(source, j + 1);
      size_t lineStart = source.rfind('\n', i);
      lineStart = lineStart == llvm::StringRef::npos ? 0 : lineStart + 1;
      llvm::StringRef line = source.slice(lineStart, i);
      bool customSyntax = line.contains("linalg.reduce") ||
                          line.contains("linalg.broadcast") ||
                          line.contains("linalg.transpose");
      if (!customSyntax)
        continue;
      // A list of integers: `[`, digits, signs, commas and spaces, `]`.
      bool list = j < source.size() && source[j] == '[';
      size_t k = j + 1;
      while (list && k < source.size() && source[k] != ']') {
        char e = source[k++];
        list = llvm::isDigit(e) || e == '-' || e == '+' || e == ',' ||
               llvm::isSpace(e);
      }
      if (!list || k >= source.size())
        return UnparsableText{
            i, ("'" + keyword + " =' of linalg.reduce/broadcast/transpose "
                "must be followed by a list of integers ([...]): MLIR's "
                "parser crashes on anything else")
                   .str()};
    }
    if (c != 'a' || !source.substr(i).starts_with("array"))
      continue;
    size_t j = skipSpace(source, i + 5);
    if (j >= source.size() || source[j] != '<')
      continue;
    j = skipSpace(source, j + 1);
    if (!source.substr(j).starts_with("index") ||
        (j + 5 < source.size() && isIdentifierChar(source[j + 5])))
      continue;
    return UnparsableText{
        i, "a dense array of 'index' elements (array<index...>) is not "
           "supported: MLIR's parser crashes on it; use array<i64: ...>"};
  }
  return std::nullopt;
}

std::pair<unsigned, unsigned> mlir::kiln::lineAndColumn(llvm::StringRef source,
                                                        size_t offset) {
  llvm::StringRef before = source.take_front(offset);
  unsigned line = 1 + before.count('\n');
  size_t start = before.rfind('\n');
  unsigned column =
      offset - (start == llvm::StringRef::npos ? 0 : start + 1) + 1;
  return {line, column};
}
