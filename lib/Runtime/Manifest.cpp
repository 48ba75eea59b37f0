//===- Manifest.cpp - The Kiln manifest: parser, printer, names -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The manifest (version 5) is line-based, words separated by one space:
//
//   kiln-manifest 5
//   variable NAME DTYPE RANK D0 D1 ...   (the module's variables)
//   entry NAME NUM_INPUTS NUM_OUTPUTS NUM_VARIABLES DEVICE
//   in DTYPE RANK D0 D1 ...      (NUM_INPUTS of these; an extent may be ?)
//   out DTYPE RANK D0 D1 ...     (then NUM_OUTPUTS of these; likewise)
//   var NAME r|rw DTYPE RANK D0 D1 ...  (then NUM_VARIABLES of these)
//   atomic                       (optional: undo the variable updates when
//                                 a run-time check fails)
//   check MESSAGE                (any number: the shape function's checks)
//   end
//
// with any number of entries; DEVICE is a device type name (cpu, cuda).
// Older versions are read too: version 4 has no 'atomic' (and is what a
// manifest without one is written as), version 3 no DEVICE (the entry is cpu),
// version 2 no '?' and no 'check' either, and version 1 no variables (no
// 'variable' or 'var' lines, and 'entry NAME NUM_INPUTS NUM_OUTPUTS').
// Parsing is strict -- unknown keywords, extra words or spaces, blank lines
// and bad numbers are all rejected -- so that a corrupt module, or one from
// a newer compiler, is caught at load time and not mid-call.
//
// This file is compiled into the runtime and into the KilnManifest library
// that the compiler links; it calls the runtime only through the exported
// C API (statuses, dtype and device names) and the shape helpers compiled
// alongside it (Shape.cpp).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Manifest.h"

#include "Internal.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

using namespace kiln::runtime;

namespace {

/// Upper bound on the arguments of one entry: far above any real entry,
/// low enough that counts fit int32_t with room to spare.
constexpr uint64_t kMaxArgs = 1 << 20;

/// Parses a decimal number made of digits only (no sign, no spaces) that is
/// at most `max`.
bool parseNumber(const std::string &word, uint64_t max, uint64_t *out) {
  if (word.empty() || word.size() > 20)
    return false;
  uint64_t value = 0;
  for (char c : word) {
    if (c < '0' || c > '9')
      return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

/// Splits a line at single spaces; an empty word marks extra spaces.
std::vector<std::string> splitWords(const std::string &line) {
  std::vector<std::string> words;
  size_t start = 0;
  while (true) {
    size_t space = line.find(' ', start);
    words.push_back(line.substr(start, space - start));
    if (space == std::string::npos)
      return words;
    start = space + 1;
  }
}

/// Takes a status and returns its message.
std::string takeMessage(kiln_status_t status) {
  std::string message = kiln_status_message(status);
  kiln_status_free(status);
  return message;
}

/// Reads a manifest one line at a time, keeping the state that crosses
/// lines (the version, the open entry and how many of its arguments are
/// still to come). Each keyword has its handler; a handler sees the current
/// line split into `words` and reports a problem through `bad`.
class Parser {
public:
  explicit Parser(Manifest &out) : out(out) {}

  /// Parses `text` into the manifest given to the constructor.
  kiln_status_t parse(const char *text);

private:
  using Handler = kiln_status_t (Parser::*)();

  /// A keyword, the first version that has it, and its handler.
  struct Keyword {
    const char *word;
    uint32_t since;
    Handler handle;
  };

  /// The handler of `keyword` in this manifest's version, or NULL.
  Handler handlerOf(const std::string &keyword) const;

  /// `kiln-manifest VERSION`, the first line.
  kiln_status_t parseHeader();
  /// `variable NAME DTYPE RANK D0 ...`: a module variable.
  kiln_status_t parseVariable();
  /// `entry NAME NUM_INPUTS NUM_OUTPUTS [NUM_VARIABLES [DEVICE]]`: opens an
  /// entry.
  kiln_status_t parseEntry();
  /// `in ...` or `out ...`: an input or output of the open entry.
  kiln_status_t parseArgument();
  /// `var NAME r|rw DTYPE RANK D0 ...`: a variable the open entry binds.
  kiln_status_t parseBinding();
  /// `atomic`: the open entry's variable updates are undone on a failed
  /// run-time check.
  kiln_status_t parseAtomic();
  /// `check MESSAGE`: a shape check of the open entry.
  kiln_status_t parseCheck();
  /// `end`: closes the open entry once all its arguments are there.
  kiln_status_t parseEnd();

  /// Parses "DTYPE RANK D0 D1 ..." starting at words[first] into `spec`
  /// (`?` extents, stored as kDynamicExtent, if `allowDynamic`); returns an
  /// explanation on failure, "" on success.
  std::string parseSpec(size_t first, TensorSpec &spec,
                        bool allowDynamic = false) const;

  /// A KILN_DATA_LOSS status naming the current line and `why`.
  kiln_status_t bad(const std::string &why) const;

  Manifest &out;
  uint32_t version = 0;
  int lineNo = 0;
  std::string line;
  std::vector<std::string> words;
  /// The entry between its `entry` and `end` lines (the last of
  /// out.entries), or NULL.
  EntrySpec *current = nullptr;
  size_t inputsLeft = 0, outputsLeft = 0, variablesLeft = 0;
};

kiln_status_t Parser::bad(const std::string &why) const {
  std::string shown = line.size() > 80 ? line.substr(0, 77) + "..." : line;
  return kiln_status_create(KILN_DATA_LOSS,
                            "malformed kiln manifest, line %d ('%s'): %s",
                            lineNo, shown.c_str(), why.c_str());
}

Parser::Handler Parser::handlerOf(const std::string &keyword) const {
  static const Keyword keywords[] = {
      {"variable", 2, &Parser::parseVariable},
      {"entry", 1, &Parser::parseEntry},
      {"in", 1, &Parser::parseArgument},
      {"out", 1, &Parser::parseArgument},
      {"var", 2, &Parser::parseBinding},
      {"atomic", 5, &Parser::parseAtomic},
      {"check", 3, &Parser::parseCheck},
      {"end", 1, &Parser::parseEnd},
  };
  for (const Keyword &k : keywords)
    if (keyword == k.word && version >= k.since)
      return k.handle;
  return nullptr;
}

kiln_status_t Parser::parse(const char *text) {
  const char *at = text;
  while (*at) {
    const char *newline = std::strchr(at, '\n');
    size_t length =
        newline ? static_cast<size_t>(newline - at) : std::strlen(at);
    line.assign(at, length);
    at += length + (newline ? 1 : 0);
    ++lineNo;
    words = splitWords(line);
    if (std::any_of(words.begin(), words.end(),
                    [](const std::string &w) { return w.empty(); }))
      return bad(line.empty() ? "blank line" : "extra spaces");
    if (lineNo == 1) {
      if (kiln_status_t s = parseHeader())
        return s;
      continue;
    }
    Handler handle = handlerOf(words[0]);
    if (!handle)
      return bad("unknown keyword '" + words[0] + "'");
    if (kiln_status_t s = (this->*handle)())
      return s;
  }
  if (lineNo == 0)
    return kiln_status_create(KILN_DATA_LOSS, "the kiln manifest is empty");
  if (current)
    return bad("missing 'end' of entry '" + current->name + "'");
  return nullptr;
}

kiln_status_t Parser::parseHeader() {
  uint64_t number = 0;
  if (words.size() != 2 || words[0] != "kiln-manifest" ||
      !parseNumber(words[1], UINT32_MAX, &number))
    return bad("expected the header 'kiln-manifest N'");
  if (number < 1 || number > kManifestVersion)
    return kiln_status_create(
        KILN_UNIMPLEMENTED,
        "kiln manifest version %llu is not supported: this runtime reads "
        "versions 1 to %u (is the module from a newer compiler?)",
        static_cast<unsigned long long>(number), kManifestVersion);
  version = static_cast<uint32_t>(number);
  out.version = version;
  return nullptr;
}

kiln_status_t Parser::parseVariable() {
  if (current)
    return bad("'variable' inside an entry");
  if (words.size() < 2 || !isIdentifier(words[1]))
    return bad("expected 'variable NAME DTYPE RANK D0 D1 ...' with a C "
               "identifier as name");
  for (const VariableSpec &other : out.variables)
    if (other.name == words[1])
      return bad("duplicate variable '" + words[1] + "'");
  VariableSpec variable;
  variable.name = words[1];
  std::string why = parseSpec(2, variable.spec);
  if (!why.empty())
    return bad(why);
  out.variables.push_back(std::move(variable));
  return nullptr;
}

kiln_status_t Parser::parseEntry() {
  if (current)
    return bad("'entry' before the previous entry's 'end'");
  // Version 1 has no variable count, versions before 4 no device.
  bool hasVariables = version >= 2, hasDevice = version >= 4;
  size_t expected = 4 + (hasVariables ? 1 : 0) + (hasDevice ? 1 : 0);
  uint64_t numInputs = 0, numOutputs = 0, numVariables = 0;
  if (words.size() != expected ||
      !parseNumber(words[2], kMaxArgs, &numInputs) ||
      !parseNumber(words[3], kMaxArgs, &numOutputs) ||
      (hasVariables && !parseNumber(words[4], kMaxArgs, &numVariables)))
    return bad(std::string("expected 'entry NAME NUM_INPUTS NUM_OUTPUTS") +
               (hasVariables ? " NUM_VARIABLES" : "") +
               (hasDevice ? " DEVICE" : "") + "'");
  if (!isIdentifier(words[1]))
    return bad("entry name '" + words[1] + "' is not a C identifier");
  for (const EntrySpec &other : out.entries)
    if (other.name == words[1])
      return bad("duplicate entry '" + words[1] + "'");
  kiln_device_type_t device = KILN_DEVICE_CPU;
  if (hasDevice)
    if (kiln_status_t s = kiln_device_type_parse(words[5].c_str(), &device))
      return bad(takeMessage(s));
  out.entries.emplace_back();
  current = &out.entries.back();
  current->name = words[1];
  current->device = device;
  inputsLeft = static_cast<size_t>(numInputs);
  outputsLeft = static_cast<size_t>(numOutputs);
  variablesLeft = static_cast<size_t>(numVariables);
  return nullptr;
}

kiln_status_t Parser::parseArgument() {
  const std::string &keyword = words[0];
  if (!current)
    return bad("'" + keyword + "' outside an entry");
  bool isInput = keyword == "in";
  if (isInput && !current->outputs.empty())
    return bad("input after an output");
  if (isInput && inputsLeft == 0)
    return bad("more inputs than the entry declares");
  if (!isInput && inputsLeft != 0)
    return bad("output before all inputs");
  if (!isInput && outputsLeft == 0)
    return bad("more outputs than the entry declares");
  TensorSpec spec;
  std::string why = parseSpec(1, spec, /*allowDynamic=*/version >= 3);
  if (!why.empty())
    return bad(why);
  (isInput ? current->inputs : current->outputs).push_back(std::move(spec));
  (isInput ? inputsLeft : outputsLeft)--;
  return nullptr;
}

kiln_status_t Parser::parseBinding() {
  if (!current)
    return bad("'var' outside an entry");
  if (inputsLeft || outputsLeft)
    return bad("variable before all inputs and outputs");
  if (variablesLeft == 0)
    return bad("more variables than the entry declares");
  if (words.size() < 3 || (words[2] != "r" && words[2] != "rw"))
    return bad("expected 'var NAME r|rw DTYPE RANK D0 D1 ...'");
  BindingSpec binding;
  binding.name = words[1];
  binding.writes = words[2] == "rw";
  std::string why = parseSpec(3, binding.spec);
  if (!why.empty())
    return bad(why);
  auto declared = std::find_if(
      out.variables.begin(), out.variables.end(),
      [&](const VariableSpec &v) { return v.name == binding.name; });
  if (declared == out.variables.end())
    return bad("variable '" + binding.name + "' is not declared");
  if (declared->spec.dtype != binding.spec.dtype ||
      declared->spec.shape != binding.spec.shape)
    return bad("variable '" + binding.name +
               "' does not match its declaration");
  for (const BindingSpec &other : current->variables)
    if (other.name == binding.name)
      return bad("variable '" + binding.name + "' listed twice");
  current->variables.push_back(std::move(binding));
  --variablesLeft;
  return nullptr;
}

kiln_status_t Parser::parseAtomic() {
  if (!current)
    return bad("'atomic' outside an entry");
  if (inputsLeft || outputsLeft || variablesLeft)
    return bad("'atomic' before all inputs, outputs and variables");
  if (words.size() != 1)
    return bad("extra words after 'atomic'");
  if (current->atomic)
    return bad("a second 'atomic' line");
  if (!current->checks.empty())
    return bad("'atomic' after a 'check' line");
  current->atomic = true;
  return nullptr;
}

kiln_status_t Parser::parseCheck() {
  if (!current)
    return bad("'check' outside an entry");
  if (inputsLeft || outputsLeft || variablesLeft)
    return bad("'check' before all inputs, outputs and variables");
  if (words.size() < 2)
    return bad("expected 'check MESSAGE'");
  current->checks.push_back(line.substr(std::strlen("check ")));
  return nullptr;
}

kiln_status_t Parser::parseEnd() {
  if (!current)
    return bad("'end' outside an entry");
  if (words.size() != 1)
    return bad("extra words after 'end'");
  if (inputsLeft || outputsLeft || variablesLeft)
    return bad(
        "'end' does not close a complete entry: " + std::to_string(inputsLeft) +
        " inputs, " + std::to_string(outputsLeft) + " outputs and " +
        std::to_string(variablesLeft) + " variables are missing");
  current = nullptr;
  return nullptr;
}

std::string Parser::parseSpec(size_t first, TensorSpec &spec,
                              bool allowDynamic) const {
  uint64_t rank = 0;
  if (words.size() < first + 2 ||
      !parseNumber(words[first + 1], KILN_MAX_RANK, &rank))
    return "expected 'DTYPE RANK D0 D1 ...' with a rank of at most " +
           std::to_string(KILN_MAX_RANK);
  if (kiln_status_t s = kiln_dtype_parse(words[first].c_str(), &spec.dtype)) {
    kiln_status_free(s);
    return "unknown dtype '" + words[first] + "'";
  }
  if (words.size() != first + 2 + rank)
    return "rank " + std::to_string(rank) + " but " +
           std::to_string(words.size() - first - 2) + " extents";
  std::vector<int64_t> known; // the extents with ? as 0, to check them
  for (size_t i = first + 2; i < words.size(); ++i) {
    if (allowDynamic && words[i] == "?") {
      spec.shape.push_back(kDynamicExtent);
      known.push_back(0);
      continue;
    }
    uint64_t extent = 0;
    if (!parseNumber(words[i], INT64_MAX, &extent))
      return "extent '" + words[i] + "' is not a non-negative integer" +
             (allowDynamic ? " or ?" : "");
    spec.shape.push_back(static_cast<int64_t>(extent));
    known.push_back(static_cast<int64_t>(extent));
  }
  int64_t elements;
  size_t bytes;
  if (kiln_status_t s =
          checkShape(static_cast<int32_t>(rank), known.data(),
                     kiln_dtype_size(spec.dtype), &elements, &bytes))
    return takeMessage(s);
  return "";
}

/// Appends " DTYPE RANK D0 D1 ..." (`?` for an open extent).
void printSpec(std::string &text, const TensorSpec &spec) {
  text += ' ';
  text += kiln_dtype_name(spec.dtype);
  text += ' ' + std::to_string(spec.shape.size());
  for (int64_t extent : spec.shape)
    text += ' ' + (extent == kDynamicExtent ? std::string("?")
                                            : std::to_string(extent));
}

/// `message` as the one line of single-spaced words that a `check` line
/// holds: control characters become spaces, runs of spaces collapse.
std::string oneLine(const std::string &message) {
  std::string text;
  bool space = false;
  for (char c : message) {
    if (c == ' ' || (static_cast<unsigned char>(c) < 0x20) || c == 0x7f) {
      space = !text.empty();
      continue;
    }
    if (space)
      text += ' ';
    space = false;
    text += c;
  }
  return text.empty() ? "shape check failed" : text;
}

} // namespace

kiln_status_t kiln::runtime::parseManifest(const char *text, Manifest &out) {
  if (!text)
    return kiln_status_create(KILN_DATA_LOSS, "no kiln manifest");
  return Parser(out).parse(text);
}

std::string kiln::runtime::printManifest(const Manifest &manifest) {
  bool atomic = false;
  for (const EntrySpec &entry : manifest.entries)
    atomic |= entry.atomic;
  std::string text = std::string("kiln-manifest ") + (atomic ? "5" : "4") + "\n";
  for (const VariableSpec &variable : manifest.variables) {
    text += "variable " + variable.name;
    printSpec(text, variable.spec);
    text += '\n';
  }
  for (const EntrySpec &entry : manifest.entries) {
    text += "entry " + entry.name + ' ' + std::to_string(entry.inputs.size()) +
            ' ' + std::to_string(entry.outputs.size()) + ' ' +
            std::to_string(entry.variables.size()) + ' ' +
            kiln_device_type_name(entry.device) + '\n';
    for (const TensorSpec &input : entry.inputs) {
      text += "in";
      printSpec(text, input);
      text += '\n';
    }
    for (const TensorSpec &output : entry.outputs) {
      text += "out";
      printSpec(text, output);
      text += '\n';
    }
    for (const BindingSpec &binding : entry.variables) {
      text += "var " + binding.name + (binding.writes ? " rw" : " r");
      printSpec(text, binding.spec);
      text += '\n';
    }
    if (entry.atomic)
      text += "atomic\n";
    for (const std::string &check : entry.checks)
      text += "check " + oneLine(check) + '\n';
    text += "end\n";
  }
  return text;
}

bool kiln::runtime::isIdentifier(std::string_view name) {
  auto isLetter = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  if (name.empty() || !isLetter(name[0]))
    return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return isLetter(c) || (c >= '0' && c <= '9');
  });
}
