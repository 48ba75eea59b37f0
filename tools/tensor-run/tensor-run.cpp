//===- tensor-run.cpp - Run a function of a .mlir file on .npy inputs
//------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
//   tensor-run model.mlir --entry f --input a.npy --input b.npy \
//       --output-dir out/ --print
//
// Compiles the module with the CPU pipeline (JIT), reads the inputs, calls
// the entry point and writes each output as out/<i>.npy (and prints them
// with --print). Every failure is a message naming the file, argument or
// location at fault, and exit code 1.
//
//===----------------------------------------------------------------------===//

#include "../common/Elements.h"
#include "kiln/Compiler/Compiler.h"
#include "kiln/Runtime/Runtime.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<file.mlir>"),
                                      cl::Required);
static cl::opt<std::string>
    entryName("entry",
              cl::desc("Entry point (public function) to run; optional when "
                       "the module has exactly one"));
static cl::list<std::string> inputs(
    "input",
    cl::desc("An input, in argument order (repeat): a .npy file, or "
             "idx:DTYPE:PATH[:LIMIT] for an idx file of bytes such as "
             "Fashion-MNIST's (DTYPE f32, f64, i32 or i64; the first LIMIT "
             "items)"));
static cl::opt<std::string>
    outputDir("output-dir", cl::desc("Write output i as <dir>/<i>.npy"));
static cl::opt<bool> printOutputs("print", cl::desc("Print the outputs"));
static cl::opt<bool> tileContractions(
    "tile-contractions",
    cl::desc("Tile and vectorize contractions for the CPU (default true)"),
    cl::init(true));
static cl::opt<bool> emulateGpuKernels(
    "emulate-gpu-kernels",
    cl::desc("On the CPU, run matrix products and row reductions as the "
             "GPU's kernels do, block by block and warp by warp (a test of "
             "the GPU kernels)"),
    cl::init(false));
static cl::opt<std::string>
    chip("chip",
         cl::desc("With --device cuda: the GPU architecture the kernels are "
                  "compiled for (default sm_90; sm_90a for TMA and wgmma)"),
         cl::init("sm_90"));
static cl::opt<bool> mergeLaunches(
    "merge-launches",
    cl::desc("With the GPU: run neighbouring independent small kernels as "
             "one launch (default; =false keeps one launch per kernel)"),
    cl::init(true));
static cl::opt<bool> allowTf32(
    "allow-tf32",
    cl::desc("f32 matrix products on the GPU's tensor cores with operands "
             "rounded to TF32 (with --device cuda, or as the GPU computes "
             "them with --emulate-gpu-kernels)"),
    cl::init(false));
static cl::opt<bool> tensorCores(
    "tensor-cores",
    cl::desc("f16 and bf16 matrix products on the GPU's tensor cores (sm_80 "
             "and later; default); false: on the FMA units (with --device "
             "cuda, or as the GPU computes them with --emulate-gpu-kernels)"),
    cl::init(true));
static cl::opt<bool> parallelLoops(
    "parallel",
    cl::desc("Run parallel loops on the runtime's thread pool (default "
             "true; false: generate code for the calling thread only)"),
    cl::init(true));
static cl::opt<int> numThreads(
    "num-threads",
    cl::desc("Threads of the runtime's pool, the caller included (default: "
             "KILN_NUM_THREADS, else every CPU the process may use)"),
    cl::init(0));
static cl::opt<mlir::kiln::Target>
    target("target", cl::desc("What to generate code for"),
           cl::init(mlir::kiln::Target::CPU),
           cl::values(clEnumValN(mlir::kiln::Target::CPU, "cpu",
                                 "the host's CPU (default)"),
                      clEnumValN(mlir::kiln::Target::CUDA, "cuda",
                                 "an NVIDIA GPU (cuda:0): inputs are copied "
                                 "there, outputs back")));
static cl::opt<std::string> deviceName(
    "device",
    cl::desc("Where to run: cpu or cuda[:N] (the same as --target, on GPU "
             "N; default 0)"));
static cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level"),
                                  cl::init(3), cl::Prefix);
static cl::opt<unsigned> codegenPartitions(
    "codegen-partitions",
    cl::desc("CPU: compile the LLVM module in this many partitions, one "
             "thread each (default 0: chosen from the module's size)"),
    cl::init(0));
static cl::opt<bool> printIR("mlir-print-ir-after-all",
                             cl::desc("Print the IR after every pass"));
static cl::opt<unsigned>
    repeat("repeat",
           cl::desc("Call the entry point this many times (outputs are "
                    "reused; the last call's outputs are written)"),
           cl::init(1));
static cl::opt<std::string> loadVariables(
    "load-variables",
    cl::desc("Load variables from this safetensors checkpoint before the "
             "first call (variables it lacks get their initial values)"));
static cl::opt<std::string> saveVariables(
    "save-variables",
    cl::desc("Save every variable to this safetensors checkpoint after the "
             "last call (written atomically)"));
static cl::opt<bool>
    printVariables("print-variables",
                   cl::desc("Print every variable after the last call"));
static cl::opt<unsigned> printEvery(
    "print-every",
    cl::desc("Also print the outputs after every N-th call (a training "
             "loop's loss, say)"),
    cl::init(0));
static cl::opt<bool>
    timeCalls("time",
              cl::desc("Print the median and minimum time per call (after one "
                       "warm-up call) and the compile time"));

/// Prints `message` and the status, frees it, and returns 1.
static int fail(kiln_status_t status, const Twine &context = "") {
  errs() << "tensor-run: ";
  if (!context.isTriviallyEmpty())
    errs() << context << ": ";
  errs() << kiln_status_message(status) << "\n";
  kiln_status_free(status);
  return 1;
}

/// Prints a buffer like NumPy: nested brackets, at most 6 items per
/// dimension shown.
static void printBuffer(raw_ostream &os, kiln_buffer_t *b) {
  int32_t rank = kiln_buffer_rank(b);
  const int64_t *shape = kiln_buffer_shape(b);
  const void *data = kiln_buffer_host_data(b);
  if (!data && kiln_buffer_byte_size(b) > 0) {
    // Device memory (an output with --print-every, a variable of a GPU
    // entry): printed from a copy in host memory.
    kiln_buffer_t *host = nullptr;
    if (kiln_status_t s =
            kiln_buffer_copy_to(b, kiln_device_t{KILN_DEVICE_CPU, 0}, &host)) {
      os << "(cannot read it: " << kiln_status_message(s) << ")\n";
      kiln_status_free(s);
      return;
    }
    printBuffer(os, host);
    kiln_buffer_release(host);
    return;
  }
  kiln_dtype_t dtype = kiln_buffer_dtype(b);
  bool isBool = dtype == KILN_I1;
  bool isInt = !isBool && std::string(kiln_dtype_name(dtype)).find('i') !=
                              std::string::npos;
  std::function<void(int32_t, int64_t)> rec = [&](int32_t d, int64_t base) {
    if (d == rank) {
      double v = kiln::tools::element(b, data, base);
      if (isBool)
        os << (v ? "True" : "False");
      else if (isInt)
        os << static_cast<int64_t>(v);
      else
        os << format("%.6g", v);
      return;
    }
    int64_t stride = 1;
    for (int32_t k = d + 1; k < rank; ++k)
      stride *= shape[k];
    os << "[";
    for (int64_t i = 0; i < shape[d]; ++i) {
      if (shape[d] > 6 && i == 3) {
        os << "...";
        i = shape[d] - 3;
        os << ", ";
      }
      if (i > 0 && !(shape[d] > 6 && i == shape[d] - 3))
        os << ", ";
      rec(d + 1, base + i * stride);
    }
    os << "]";
  };
  rec(0, 0);
  os << "  (" << kiln_dtype_name(kiln_buffer_dtype(b)) << ", shape (";
  for (int32_t d = 0; d < rank; ++d)
    os << (d ? ", " : "") << shape[d];
  os << (rank == 1 ? ",))" : "))") << "\n";
}

namespace {

using Clock = std::chrono::steady_clock;

/// What one run holds: the executable, the inputs, the variable store and
/// the outputs. Everything is released when the run ends, whatever step
/// failed.
struct Run {
  mlir::kiln::Target target = mlir::kiln::Target::CPU;
  int32_t ordinal = 0; // of the device (--device cuda:N)
  kiln_executable_t *exe = nullptr;
  std::string entry;
  std::vector<kiln_buffer_t *> inputs, outputs;
  kiln_variables_t *store = nullptr;
  double compileMs = 0;

  Run() = default;
  Run(const Run &) = delete;
  Run &operator=(const Run &) = delete;
  ~Run() {
    for (kiln_buffer_t *b : outputs)
      kiln_buffer_release(b);
    for (kiln_buffer_t *b : inputs)
      kiln_buffer_release(b);
    kiln_variables_destroy(store);
    kiln_executable_release(exe);
  }
};

} // namespace

/// --device cpu | cuda[:N]: the target, checked against --target.
static int chooseDevice(Run &run) {
  StringRef name = deviceName;
  auto [type, ordinalText] = name.split(':');
  unsigned ordinal = 0;
  mlir::kiln::Target chosen;
  if (type == "cpu")
    chosen = mlir::kiln::Target::CPU;
  else if (type == "cuda")
    chosen = mlir::kiln::Target::CUDA;
  else {
    errs() << "tensor-run: --device " << name
           << ": unknown device (cpu, cuda or cuda:N)\n";
    return 1;
  }
  if (!ordinalText.empty() && ordinalText.getAsInteger(10, ordinal)) {
    errs() << "tensor-run: --device " << name << ": '" << ordinalText
           << "' is not a device number\n";
    return 1;
  }
  if (type == "cpu" && ordinal != 0) {
    errs() << "tensor-run: --device " << name
           << ": there is one CPU device, cpu:0\n";
    return 1;
  }
  if (target.getNumOccurrences() && target != chosen) {
    errs() << "tensor-run: --device " << name << " contradicts --target\n";
    return 1;
  }
  run.target = chosen;
  run.ordinal = static_cast<int32_t>(ordinal);
  return 0;
}

/// Parses and JIT-compiles the input file. Returns 0 or the exit code.
static int compile(Run &run) {
  auto source = MemoryBuffer::getFileOrSTDIN(inputFile);
  if (!source) {
    errs() << "tensor-run: cannot read " << inputFile << ": "
           << source.getError().message() << "\n";
    return 1;
  }
  auto start = Clock::now();
  mlir::kiln::Compiler compiler;
  mlir::kiln::CompileOptions options;
  options.target = run.target;
  options.tileContractions = tileContractions;
  options.emulateGpuKernels = emulateGpuKernels;
  options.allowTf32 = allowTf32;
  options.tensorCores = tensorCores;
  options.mergeLaunches = mergeLaunches;
  options.gpuChip = chip;
  options.threads = parallelLoops;
  options.optLevel = optLevel;
  options.codegenPartitions = codegenPartitions;
  options.printIRAfterAll = printIR;
  if (kiln_status_t status = compiler.jitSource((*source)->getBuffer(),
                                                inputFile, options, &run.exe))
    return fail(status);
  run.compileMs =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return 0;
}

/// The entry to run: --entry, or the only one there is.
static int chooseEntry(Run &run) {
  run.entry = entryName;
  int32_t count = kiln_executable_entry_count(run.exe);
  if (!run.entry.empty())
    return 0;
  if (count != 1) {
    errs() << "tensor-run: " << inputFile << " has " << count
           << " entry points; choose one with --entry (";
    for (int32_t i = 0; i < count; ++i)
      errs() << (i ? ", " : "") << kiln_executable_entry_name(run.exe, i);
    errs() << ")\n";
    return 1;
  }
  run.entry = kiln_executable_entry_name(run.exe, 0);
  return 0;
}

/// Reads one --input: a .npy file, or idx:DTYPE:PATH[:LIMIT].
static int readInput(const std::string &path, kiln_buffer_t **buffer) {
  kiln_status_t status = nullptr;
  if (StringRef(path).starts_with("idx:")) {
    SmallVector<StringRef> parts;
    StringRef(path).split(parts, ':');
    kiln_dtype_t dtype = KILN_F32;
    int64_t limit = -1;
    if (parts.size() < 3 || parts.size() > 4 ||
        (parts.size() == 4 && parts[3].getAsInteger(10, limit))) {
      errs() << "tensor-run: --input " << path
             << ": expected idx:DTYPE:PATH[:LIMIT]\n";
      return 1;
    }
    status = kiln_dtype_parse(parts[1].str().c_str(), &dtype);
    if (!status)
      status = kiln_idx_read(parts[2].str().c_str(), dtype, limit, buffer);
  } else {
    status = kiln_npy_read(path.c_str(), buffer);
  }
  return status ? fail(status, "--input " + path) : 0;
}

/// Moves `*buffer` to `device` (a copy; the host buffer is released) when
/// the entry runs there.
static int moveTo(kiln_device_t device, kiln_buffer_t **buffer) {
  if (kiln_buffer_device(*buffer).type == device.type)
    return 0;
  kiln_buffer_t *moved = nullptr;
  if (kiln_status_t status = kiln_buffer_copy_to(*buffer, device, &moved))
    return fail(status);
  kiln_buffer_release(*buffer);
  *buffer = moved;
  return 0;
}

/// The variable store: loaded from a checkpoint, completed with the
/// module's initial values.
static int prepareVariables(Run &run) {
  if (kiln_status_t status = kiln_variables_create(&run.store))
    return fail(status);
  if (!loadVariables.empty())
    if (kiln_status_t status =
            kiln_variables_load(run.store, loadVariables.c_str(), run.exe))
      return fail(status);
  if (kiln_status_t status = kiln_variables_initialize(run.store, run.exe))
    return fail(status);
  return 0;
}

/// Calls the entry --repeat times (plus a warm-up call with --time),
/// printing outputs every --print-every calls and the timing.
static int callEntry(Run &run) {
  int32_t index = kiln_executable_find_entry(run.exe, run.entry.c_str());
  int32_t numOutputs =
      index >= 0 ? kiln_entry_output_count(run.exe, index) : 0;
  run.outputs.assign(numOutputs, nullptr);
  std::vector<double> times;
  unsigned calls =
      std::max(1u, static_cast<unsigned>(repeat)) + (timeCalls ? 1 : 0);
  for (unsigned call = 0; call < calls; ++call) {
    auto start = Clock::now();
    if (kiln_status_t status = kiln_executable_invoke_with_variables(
            run.exe, run.entry.c_str(), static_cast<int32_t>(run.inputs.size()),
            run.inputs.data(), numOutputs, run.outputs.data(), run.store))
      return fail(status, calls > 1 ? "call " + Twine(call + 1) : Twine());
    if (printEvery && (call + 1) % printEvery == 0)
      for (int32_t i = 0; i < numOutputs; ++i) {
        outs() << "call " << call + 1 << " output " << i << ": ";
        printBuffer(outs(), run.outputs[i]);
      }
    if (call > 0 || !timeCalls) // the first call warms up when timing
      times.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - start)
              .count());
  }
  if (timeCalls) {
    std::sort(times.begin(), times.end());
    outs() << format("time: median %.3f us, min %.3f us over %zu calls; "
                     "compile %.1f ms\n",
                     times[times.size() / 2], times.front(), times.size(),
                     run.compileMs);
  }
  return 0;
}

/// Prints and writes the outputs, prints and saves the variables. A failed
/// write stops the writing (and the saving), not the printing.
static int writeResults(Run &run) {
  int rc = 0;
  if (!outputDir.empty())
    if (std::error_code ec = sys::fs::create_directories(outputDir)) {
      errs() << "tensor-run: cannot create " << outputDir << ": "
             << ec.message() << "\n";
      rc = 1;
    }
  for (auto [i, output] : llvm::enumerate(run.outputs)) {
    if (rc)
      break;
    if (printOutputs) {
      outs() << "output " << i << ": ";
      printBuffer(outs(), output);
    }
    if (!outputDir.empty()) {
      SmallString<256> path(outputDir);
      sys::path::append(path, std::to_string(i) + ".npy");
      if (kiln_status_t status = kiln_npy_write(path.c_str(), output))
        rc = fail(status);
    }
  }
  if (printVariables)
    for (int32_t v = 0; v < kiln_variables_count(run.store); ++v) {
      const char *name = kiln_variables_name(run.store, v);
      outs() << "variable " << name << ": ";
      printBuffer(outs(), kiln_variables_find(run.store, name));
    }
  if (rc == 0 && !saveVariables.empty())
    if (kiln_status_t status =
            kiln_variables_save(run.store, saveVariables.c_str(), 0, nullptr))
      rc = fail(status);
  return rc;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "Kiln: compile a .mlir module and run one of its functions\n");
  if (numThreads != 0)
    if (kiln_status_t status = kiln_set_num_threads(numThreads))
      return fail(status);
  Run run;
  run.target = target;
  if (!deviceName.empty())
    if (int rc = chooseDevice(run))
      return rc;
  if (int rc = compile(run))
    return rc;
  if (run.ordinal != 0)
    if (kiln_status_t status = kiln_executable_set_device(
            run.exe, kiln_device_t{KILN_DEVICE_CUDA, run.ordinal}))
      return fail(status);
  if (int rc = chooseEntry(run))
    return rc;
  // A GPU entry takes its inputs in GPU memory, and its outputs come back
  // to the host to be printed and written.
  kiln_device_t device = kiln_entry_device(
      run.exe, kiln_executable_find_entry(run.exe, run.entry.c_str()));
  bool host = device.type == KILN_DEVICE_CPU;
  for (const std::string &path : inputs) {
    kiln_buffer_t *buffer = nullptr;
    if (int rc = readInput(path, &buffer))
      return rc;
    run.inputs.push_back(buffer);
    if (!host)
      if (int rc = moveTo(device, &run.inputs.back()))
        return rc;
  }
  if (int rc = prepareVariables(run))
    return rc;
  if (int rc = callEntry(run))
    return rc;
  if (!host)
    for (kiln_buffer_t *&output : run.outputs)
      if (int rc = moveTo(kiln_device_t{KILN_DEVICE_CPU, 0}, &output))
        return rc;
  return writeResults(run);
}
