// Compaction of the data files (docs/compaction.md): live objects move out of the sparse end of
// a data file into free slots nearer its front, through the copy-on-write path (new slot, OT
// entry switched, old slot freed only once the checkpoint that no longer references it is
// durable and no reader can still hold its address), then the free segments at the end are
// cut off the file (ftruncate) once a manifest recording the smaller size is durable.
//
// This header holds the options, the report and the planner (pure functions over allocator
// statistics). The round itself is Runtime::Compact (persistence/compaction.cc), run online by
// the coordinator (RuntimeOptions::compaction_dead_ratio / compaction_bytes_per_sec) and
// offline by `cowtree compact --db DIR` (tools/compact_command.h).
#pragma once

#include <cstdint>
#include <vector>

#include "persistence/segment_allocator.h"

namespace cowtree {

struct CompactionOptions {
  // A size class is compacted when free slot bytes / file bytes >= dead_ratio (and at least one
  // whole segment at the end of its file could be released). 0 = whenever a segment can be
  // released (offline compaction).
  double dead_ratio = 0.0;
  // Relocate at most this many slot bytes in this round (the coordinator's token bucket);
  // the objects nearest the end of a file move first, so a partial round still shortens it.
  uint64_t max_relocated_bytes = UINT64_MAX;
  // After the round, release the disk blocks of runs of free slots of at least this many bytes
  // inside the files (fallocate PUNCH_HOLE; the file sizes stay); 0 = never.
  uint64_t punch_min_run_bytes = 64 << 10;
};

struct CompactionReport {
  uint64_t data_bytes_before = 0;  // sum of the data files' sizes when the round started
  uint64_t data_bytes_after = 0;   // ... when it ended
  uint64_t objects_relocated = 0;
  uint64_t relocated_bytes = 0;  // slot bytes of the relocated objects
  uint64_t truncated_bytes = 0;  // bytes cut off the data files
  uint64_t punched_bytes = 0;    // free slots inside the files whose blocks were released
  uint64_t checkpoints = 0;      // forced checkpoints written by the round (0, 1 or 2)
  // Old slots whose readers may still be running (a snapshot pinned before the relocation)
  // stay in use: the file is cut by a later round, after the snapshot is released.
  uint64_t slots_awaiting_readers = 0;
};

// What to do with one size class.
struct CompactionClassPlan {
  uint32_t size_class_bytes = 0;
  uint64_t segment_bytes = 0;
  uint64_t keep_segments = 0;  // objects at offsets >= keep_segments * segment_bytes move
  double dead_ratio = 0.0;
};

// free slot bytes / file bytes of one class (0 for an empty file).
double DeadRatio(const SizeClassStats& c);
// The classes worth compacting: dead ratio >= dead_ratio and the used slots (header, live,
// retired-but-unreclaimed and relocated-but-unfreed ones) fit in fewer segments than the file
// has. keep_segments = ceil(used slots / slots per segment).
std::vector<CompactionClassPlan> PlanCompaction(const SegmentAllocatorStats& stats,
                                                double dead_ratio);

}  // namespace cowtree
