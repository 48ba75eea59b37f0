// The machine's own limits, measured in the same run as Kiln's figures, and
// the hand-written C++ peer of the fused elementwise benchmark.
//
//   machine fma THREADS     peak f32 FMA GFLOP/s with THREADS threads
//   machine triad           STREAM triad a = b + s*c, GB/s, one thread
//   machine fused N REPEAT  relu(a*x + b) over N floats, median us per call
//
// Built by bench/native.py with the host compiler at -O3 -march=native, so
// the FMA loop uses the widest vectors the CPU has. Each mode prints one
// number on stdout.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Sixteen-float vectors (one zmm with AVX-512, two ymm with AVX2).
typedef float v16 __attribute__((vector_size(64)));

// 12 independent accumulator chains hide the FMA latency (4 cycles, 2 ports:
// 8 chains are needed; 12 leave margin). Returns flops done.
double fmaLoop(long iterations, float *sink) {
  v16 acc[12];
  v16 x, y;
  for (int i = 0; i < 16; ++i) {
    x[i] = 1.0f + 1e-7f * i;
    y[i] = 1e-7f;
  }
  for (auto &a : acc)
    a = x;
  for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j)
      acc[j] = acc[j] * x + y;
    asm volatile("" : "+x"(x));
  }
  v16 total = acc[0];
  for (int j = 1; j < 12; ++j)
    total += acc[j];
  *sink = total[0];
  return 2.0 * 16 * 12 * iterations;
}

double peakFma(int threads) {
  const long iterations = 200'000'000 / 12;
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> pool;
    std::vector<float> sinks(threads * 16);
    auto start = Clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { fmaLoop(iterations, &sinks[t * 16]); });
    for (auto &t : pool)
      t.join();
    double s = seconds(start, Clock::now());
    best = std::max(best, 2.0 * 16 * 12 * iterations * threads / s / 1e9);
  }
  return best;
}

double triad() {
  const size_t n = 32 << 20; // 3 x 128 MiB: far beyond the caches
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    auto start = Clock::now();
    float s = 3.0f + round;
    for (size_t i = 0; i < n; ++i)
      a[i] = b[i] + s * c[i];
    double t = seconds(start, Clock::now());
    asm volatile("" ::"r"(a.data()) : "memory");
    best = std::max(best, 3.0 * n * sizeof(float) / t / 1e9);
  }
  return best;
}

double fused(size_t n, int repeat) {
  std::vector<float> a(n, 0.5f), x(n, -1.0f), b(n, 0.25f), out(n);
  for (size_t i = 0; i < n; ++i)
    x[i] = float(int(i % 7) - 3);
  std::vector<double> times;
  for (int r = 0; r <= repeat; ++r) {
    auto start = Clock::now();
    for (size_t i = 0; i < n; ++i)
      out[i] = std::max(a[i] * x[i] + b[i], 0.0f);
    asm volatile("" ::"r"(out.data()) : "memory");
    if (r) // the first call is the warm-up
      times.push_back(seconds(start, Clock::now()) * 1e6);
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2,
                   times.end());
  return times[times.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  if (argc >= 3 && !std::strcmp(argv[1], "fma")) {
    std::printf("%.1f\n", peakFma(std::atoi(argv[2])));
    return 0;
  }
  if (argc >= 2 && !std::strcmp(argv[1], "triad")) {
    std::printf("%.1f\n", triad());
    return 0;
  }
  if (argc >= 4 && !std::strcmp(argv[1], "fused")) {
    std::printf("%.1f\n", fused(std::strtoull(argv[2], nullptr, 10),
                                std::atoi(argv[3])));
    return 0;
  }
  std::fprintf(stderr,
               "usage: machine fma THREADS | triad | fused N REPEAT\n");
  return 2;
}
