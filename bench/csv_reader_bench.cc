// CsvReader throughput on real data: tests/data/flights-200k.csv.zst (200,000 rows, 5 columns).
//
// BM_CsvParsePlain: the slice is decompressed once into a temporary file (served from the page
//   cache), then each iteration opens and parses it: read() + row splitting, no parse of values.
// BM_CsvParseAndInt64: the same plus FieldInt64 of `delay` and `distance` (what ingest does).
// BM_CsvParseZstd: end to end from the .zst file (streaming decompression + parsing).
// items_per_second is data rows per second.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/csv_reader.h"
#include "tools/input_stream.h"

namespace cowtree::tools {
namespace {

// The source tree: $COWTREE_SOURCE_DIR, else derived from this file's path (CMake compiles it
// by absolute path), else the current directory.
std::string SourceDir() {
  if (const char* dir = std::getenv("COWTREE_SOURCE_DIR")) return dir;
  const std::string file = __FILE__;
  const size_t slash = file.rfind("/bench/");
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

std::string ZstdPath() { return SourceDir() + "/tests/data/flights-200k.csv.zst"; }

// Decompresses the slice once into a temporary file; removed at exit.
const std::string& PlainPath() {
  static const std::string path = [] {
    char tmpl[] = "/tmp/cowtree_csv_bench_XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) std::abort();
    auto stream = InputStream::Open(ZstdPath());
    if (!stream.ok()) {
      std::fprintf(stderr, "%s\n", stream.status().ToString().c_str());
      std::abort();
    }
    std::string block(InputStream::kDefaultBlockBytes, '\0');
    size_t n = 0;
    do {
      if (!(*stream)->Read(block.data(), block.size(), &n).ok()) std::abort();
      if (write(fd, block.data(), n) != static_cast<ssize_t>(n)) std::abort();
    } while (n == block.size());
    close(fd);
    static const std::string kept = tmpl;
    std::atexit([] { unlink(kept.c_str()); });
    return kept;
  }();
  return path;
}

std::unique_ptr<CsvReader> OpenOrDie(const std::string& path) {
  auto reader = CsvReader::Open(path);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
    std::abort();
  }
  return std::move(reader).value();
}

void CountRows(benchmark::State& state, const std::string& path) {
  int64_t rows = 0;
  for (auto _ : state) {
    auto reader = OpenOrDie(path);
    size_t bytes = 0;
    for (;;) {
      auto next = reader->Next();
      if (!next.ok()) std::abort();
      if (!*next) break;
      bytes += reader->field(reader->field_count() - 1).size();
      ++rows;
    }
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(rows);
}

void BM_CsvParsePlain(benchmark::State& state) { CountRows(state, PlainPath()); }
BENCHMARK(BM_CsvParsePlain)->Unit(benchmark::kMillisecond);

void BM_CsvParseAndInt64(benchmark::State& state) {
  int64_t rows = 0;
  for (auto _ : state) {
    auto reader = OpenOrDie(PlainPath());
    const size_t delay = *reader->ColumnIndex("delay");
    const size_t distance = *reader->ColumnIndex("distance");
    int64_t sum = 0, v = 0;
    for (;;) {
      auto next = reader->Next();
      if (!next.ok()) std::abort();
      if (!*next) break;
      if (!reader->FieldInt64(delay, &v).ok()) std::abort();
      sum += v;
      if (!reader->FieldInt64(distance, &v).ok()) std::abort();
      sum += v;
      ++rows;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_CsvParseAndInt64)->Unit(benchmark::kMillisecond);

void BM_CsvParseZstd(benchmark::State& state) { CountRows(state, ZstdPath()); }
BENCHMARK(BM_CsvParseZstd)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cowtree::tools
