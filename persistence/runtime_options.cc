// Durability names (persistence/runtime_options.h).
#include "persistence/runtime_options.h"

#include <algorithm>
#include <string>

#include "persistence/catalog_format.h"

namespace cowtree {

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kStrict:
      return "strict";
    case Durability::kBalanced:
      return "balanced";
    case Durability::kEventual:
      return "eventual";
  }
  return "?";
}

bool ParseDurability(std::string_view name, Durability* out) {
  if (name == "strict")
    *out = Durability::kStrict;
  else if (name == "balanced")
    *out = Durability::kBalanced;
  else if (name == "eventual")
    *out = Durability::kEventual;
  else
    return false;
  return true;
}

Status ValidateRuntimeOptions(const RuntimeOptions& o) {
  if (o.durability != Durability::kStrict && o.durability != Durability::kBalanced &&
      o.durability != Durability::kEventual) {
    return Status::InvalidArgument("durability must be kStrict, kBalanced or kEventual, got " +
                                   std::to_string(static_cast<int>(o.durability)));
  }
  const uint64_t cache_bytes_min = o.cache_bytes_small_for_test ? 4096 : (1ull << 20);
  if (o.cache_bytes != 0 && o.cache_bytes < cache_bytes_min) {
    return Status::InvalidArgument(
        std::string("cache_bytes must be 0 (unlimited) or at least ") +
        (o.cache_bytes_small_for_test ? "4096 (cache_bytes_small_for_test)" : "1 MiB (1048576)") +
        ", got " + std::to_string(o.cache_bytes));
  }
  if (o.cache_dirty_percent < 5 || o.cache_dirty_percent > 90) {
    return Status::InvalidArgument("cache_dirty_percent must be in [5, 90], got " +
                                   std::to_string(o.cache_dirty_percent));
  }
  if (o.mmap_window_bytes < (64u << 10) || (o.mmap_window_bytes & (o.mmap_window_bytes - 1)) != 0) {
    return Status::InvalidArgument("mmap_window_bytes must be a power of two >= 64 KiB");
  }
  if (o.mmap_windows_max == 0) return Status::InvalidArgument("mmap_windows_max must be >= 1");
  if (o.segment_size_bytes < (64u << 10) || o.segment_size_bytes > (1ull << 30) ||
      (o.segment_size_bytes & (o.segment_size_bytes - 1)) != 0) {
    return Status::InvalidArgument("segment_size_bytes must be a power of two in [64 KiB, 1 GiB]");
  }
  if (!(o.compaction_dead_ratio >= 0.0 && o.compaction_dead_ratio < 1.0)) {
    return Status::InvalidArgument("compaction_dead_ratio must be in [0, 1)");
  }
  if (o.catalog_root_chunks_max != 0 &&
      (o.catalog_root_chunks_max < 2 || o.catalog_root_chunks_max > kCatalogRootChunksMax)) {
    return Status::InvalidArgument("catalog_root_chunks_max must be 0 or in [2, " +
                                   std::to_string(kCatalogRootChunksMax) + "], got " +
                                   std::to_string(o.catalog_root_chunks_max));
  }
  if (o.catalog_chunk_entries_max > kCatalogChunkEntriesMax) {
    return Status::InvalidArgument("catalog_chunk_entries_max must be 0 or in [1, " +
                                   std::to_string(kCatalogChunkEntriesMax) + "], got " +
                                   std::to_string(o.catalog_chunk_entries_max));
  }
  return Status::OK();
}

uint64_t EffectiveCheckpointLogBytes(const RuntimeOptions& options) {
  if (options.checkpoint_log_bytes == 0 || options.cache_bytes == 0) {
    return options.checkpoint_log_bytes;
  }
  const uint64_t cap = std::max(kCheckpointLogBytesUnderBudgetMin, options.cache_bytes / 4);
  return std::min(options.checkpoint_log_bytes, cap);
}

}  // namespace cowtree
