// Side-by-side benchmark: the shared helpers of common.h.
#include "bench/side_by_side/common.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sbs {
namespace {
std::atomic<uint64_t> fdatasync_calls{0};
}  // namespace

uint64_t FdatasyncCalls() { return fdatasync_calls.load(); }
}  // namespace sbs

// Counting wrappers (see FdatasyncCalls in common.h).
int fdatasync(int fd) noexcept {
  sbs::fdatasync_calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(::syscall(SYS_fdatasync, fd));
}
int fsync(int fd) noexcept {
  sbs::fdatasync_calls.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(::syscall(SYS_fsync, fd));
}

namespace sbs {

Sink::Sink(const std::string& path) : file_(std::fopen(path.c_str(), "w")) {
  if (file_ == nullptr) Die("cannot write " + path);
}

Sink::~Sink() { std::fclose(file_); }

void Sink::Metric(const std::string& name, double value) {
  std::fprintf(file_, "M %s %.9g\n", name.c_str(), value);
  std::fflush(file_);
}

void Sink::Progress(double seconds, uint64_t keys) {
  std::fprintf(file_, "S %.6f %" PRIu64 "\n", seconds, keys);
}

void Sink::Latencies(const std::string& op, std::vector<double>* latencies_ns) {
  if (latencies_ns->empty()) return;
  std::sort(latencies_ns->begin(), latencies_ns->end());
  const size_t n = latencies_ns->size();
  auto at = [&](double q) { return (*latencies_ns)[std::min(n - 1, static_cast<size_t>(q * n))]; };
  constexpr int kPoints = 200;
  for (int i = 0; i <= kPoints; ++i) {
    const double q = static_cast<double>(i) / kPoints;
    std::fprintf(file_, "C %s %.4f %.1f\n", op.c_str(), q, at(std::min(q, 0.9999)));
  }
  Metric(op + "_p50_us", at(0.50) / 1000);
  Metric(op + "_p99_us", at(0.99) / 1000);
}

namespace {
uint64_t StatusField(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
      return std::strtoull(line.c_str() + len + 1, nullptr, 10) * 1024;  // "kB"
    }
  }
  return 0;
}
}  // namespace

uint64_t RssBytes() { return StatusField("VmRSS"); }
uint64_t RssFileBytes() { return StatusField("RssFile"); }
uint64_t PeakRssBytes() { return StatusField("VmHWM"); }

void DirBytes(const std::string& dir, uint64_t* allocated, uint64_t* apparent) {
  *allocated = 0;
  *apparent = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      *allocated += static_cast<uint64_t>(st.st_blocks) * 512;
      *apparent += static_cast<uint64_t>(st.st_size);
    }
  }
}

void ReportDisk(Sink* sink, const std::string& dir, double units, const std::string& unit) {
  uint64_t allocated = 0, apparent = 0;
  DirBytes(dir, &allocated, &apparent);
  sink->Metric("disk_bytes", static_cast<double>(allocated));
  sink->Metric("disk_apparent_bytes", static_cast<double>(apparent));
  sink->Metric("disk_bytes_per_" + unit, static_cast<double>(allocated) / units);
  sink->Metric("disk_apparent_bytes_per_" + unit, static_cast<double>(apparent) / units);
}

std::string TreeName(uint64_t i) {
  char name[32];
  std::snprintf(name, sizeof(name), "g%07" PRIu64, i);
  return name;
}

Ticker::Ticker(uint32_t period_ms, std::function<void()> fn) {
  thread_ = std::thread([this, period_ms, fn = std::move(fn)] {
    while (!stop_.load()) {
      for (uint32_t slept = 0; slept < period_ms && !stop_.load(); slept += 5) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!stop_.load()) fn();
    }
  });
}

Ticker::~Ticker() {
  stop_.store(true);
  thread_.join();
}

void RunCommitStorm(Sink* sink, int threads, double seconds,
                    const std::function<bool(int, uint64_t)>& commit_one,
                    const std::function<uint64_t()>& fdatasyncs) {
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  const uint64_t syncs_before = fdatasyncs ? fdatasyncs() : FdatasyncCalls();
  const double start = NowSeconds();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<double>& ns = latencies[static_cast<size_t>(t)];
      ns.reserve(1 << 16);
      uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = std::chrono::steady_clock::now();
        if (!commit_one(t, i++)) {
          failed.store(true);
          return;
        }
        const auto t1 = std::chrono::steady_clock::now();
        ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
      }
    });
  }
  while (NowSeconds() - start < seconds && !failed.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop.store(true);
  for (auto& th : pool) th.join();
  const double elapsed = NowSeconds() - start;
  const uint64_t syncs = (fdatasyncs ? fdatasyncs() : FdatasyncCalls()) - syncs_before;
  if (failed.load()) Die("a commit failed");
  std::vector<double> all;
  for (auto& ns : latencies) all.insert(all.end(), ns.begin(), ns.end());
  const double total = static_cast<double>(all.size());
  sink->Metric("commits", total);
  sink->Metric("commits_per_s", total / elapsed);
  sink->Metric("fdatasyncs", static_cast<double>(syncs));
  if (syncs != 0) sink->Metric("commits_per_fdatasync", total / static_cast<double>(syncs));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  sink->Latencies("commit", &all);
}

void Die(const std::string& what) {
  std::fprintf(stderr, "side_by_side: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace sbs
