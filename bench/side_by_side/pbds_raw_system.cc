// Side-by-side benchmark: the in-memory anchor (GNU pb_ds order-statistics red-black tree, a
// multiset held as (key, serial) pairs) and the device limit (raw 4 KiB pwrite + fdatasync:
// overwriting written blocks, and appending past the file's size).
#include <fcntl.h>
#include <unistd.h>

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include "bench/side_by_side/common.h"

namespace sbs {
namespace {

using PbdsTree =
    __gnu_pbds::tree<std::pair<int64_t, uint64_t>, __gnu_pbds::null_type, std::less<>,
                     __gnu_pbds::rb_tree_tag, __gnu_pbds::tree_order_statistics_node_update>;

// Ingest and, in the same process (the tree lives only there), the warm queries; those
// metrics are reported under workload "query".
void Ingest(const Params& p, Sink* sink) {
  const uint64_t rss_before = RssBytes();
  KeyStream keys(p.seed);
  PbdsTree tree;
  const double start = NowSeconds();
  uint64_t serial = 0;
  while (serial < p.entries) {
    const uint64_t n = std::min(p.keys_per_commit, p.entries - serial);
    for (uint64_t i = 0; i < n; ++i) tree.insert({keys.NextKey(), serial++});
    sink->Progress(NowSeconds() - start, serial);
  }
  const double elapsed = NowSeconds() - start;
  sink->Metric("ingest_s", elapsed);
  sink->Metric("us_per_key", elapsed * 1e6 / static_cast<double>(p.entries));
  sink->Metric("peak_rss_bytes", static_cast<double>(PeakRssBytes()));
  const double n = static_cast<double>(tree.size());
  sink->Metric("query/rss_after_full_read_bytes", static_cast<double>(RssBytes()));
  sink->Metric("query/rss_per_entry_bytes", static_cast<double>(RssBytes() - rss_before) / n);
  TimeQueries(sink, "query/select", p.queries, p.latency_samples, p.seed + 7, [&](uint64_t r) {
    return static_cast<uint64_t>(tree.find_by_order(r % tree.size())->first);
  });
  TimeQueries(sink, "query/rank", p.queries, p.latency_samples, p.seed + 8, [&](uint64_t r) {
    return static_cast<uint64_t>(tree.order_of_key({static_cast<int64_t>(r), 0}));
  });
}

// One thread: 4 KiB pwrite + fdatasync into a pre-written 64 MiB file (no metadata to sync).
void RawStrict(const Params& p, Sink* sink) {
  constexpr size_t kBlock = 4096;
  constexpr size_t kBlocks = 16384;
  const std::string path = p.dir + "/raw";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + path);
  alignas(4096) static char block[kBlock] = {1};
  for (size_t i = 0; i < kBlocks; ++i) {
    if (::pwrite(fd, block, kBlock, static_cast<off_t>(i * kBlock)) != kBlock) Die("pwrite");
  }
  if (::fsync(fd) != 0) Die("fsync");
  RunCommitStorm(sink, 1, p.strict_seconds, [&](int, uint64_t i) {
    const off_t offset = static_cast<off_t>((i % kBlocks) * kBlock);
    return ::pwrite(fd, block, kBlock, offset) == kBlock && ::fdatasync(fd) == 0;
  });
  ::close(fd);
}

// One thread: 4 KiB appended past the file's size + fdatasync, the blocks reserved ahead with
// fallocate(KEEP_SIZE) as a log without zero fill does (each fdatasync also commits the size).
void RawAppendStrict(const Params& p, Sink* sink) {
  constexpr size_t kBlock = 4096;
  constexpr uint64_t kReserveBytes = uint64_t{64} << 20;
  const std::string path = p.dir + "/raw-append";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + path);
  alignas(4096) static char block[kBlock] = {1};
  uint64_t reserved = 0;
  RunCommitStorm(sink, 1, p.strict_seconds, [&](int, uint64_t i) {
    const uint64_t offset = (i * kBlock) % kReserveBytes;
    if (offset == 0) {  // start over in an empty file, reserved ahead
      if (::ftruncate(fd, 0) != 0) return false;
      reserved = kReserveBytes;
      (void)::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(reserved));
    }
    return ::pwrite(fd, block, kBlock, static_cast<off_t>(offset)) == kBlock &&
           ::fdatasync(fd) == 0;
  });
  ::close(fd);
  ::unlink(path.c_str());
}

}  // namespace

System PbdsSystem() { return {"pbds", nullptr, nullptr, Ingest, nullptr, nullptr}; }
System RawSyncSystem() { return {"raw-fdatasync", nullptr, nullptr, nullptr, nullptr, RawStrict}; }
System RawAppendSyncSystem() {
  return {"raw-fdatasync-append", nullptr, nullptr, nullptr, nullptr, RawAppendStrict};
}

}  // namespace sbs
