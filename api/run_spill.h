// The sorted runs of one external merge sort (Knuth TAOCP vol. 3 §5.4.1) in a spill directory:
// full buffers of ops are written as runs (api/loader_run.h), runs are merged in tiers as they
// accumulate, and the final pass merges what is left with the last buffer into one ordered
// stream (api/loader_merge.h). Used by a BulkLoader with Options::spill_dir
// (include/cowtree/bulk_loader.h) and by `cowtree ingest --spill-dir` (tools/ingest.h).
//
// Memory: a merge reads each of its runs through a buffer of reader_bytes(); fan_in() runs
// read at once fill a quarter of the buffer size given at Create (at least 2, at most 256 file
// descriptors). With a budget, a merge's buffers are charged to it as fixed bytes while the
// merge runs (and the budget enforced, so that eviction makes room).
//
// The directory: created if missing and locked while the RunSpill lives (one spilling writer
// per directory; an open store's directory is refused as Busy). Runs left there by a crash
// (files named cowtree-loader-*.run) are deleted at Create; the runs of this RunSpill are
// deleted when they are merged and by DeleteRuns / the destructor. Runs are never fsynced: a
// crash loses them as it loses the buffer.
//
// Errors: Create returns InvalidArgument (a NUL byte in the path, a directory inside the
// store's), Busy (the lock: the store's own directory is Busy or InvalidArgument) and the Env's
// errors, all with `context` prepended; the others return the Env's errors (IOError, NoSpace)
// and Corruption from reading a run back (api/loader_run.h).
// Thread-safety: none (one writer thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/loader_merge.h"
#include "api/loader_run.h"
#include "persistence/env.h"
#include "persistence/status.h"

namespace cowtree {
class MemoryBudget;
}

namespace cowtree::api_internal {

class RunSpill {
 public:
  // `dir`: the spill directory. `buffer_bytes`: the size of the buffers that will be spilled
  // (sets the block size, 1/64 of it in 256 B .. 64 KiB, and the fan-in). `budget`: charged
  // for merges (may be null; not owned; must outlive the RunSpill). `context` names the
  // directory's owner in error messages ("BulkLoader: spill_dir", "--spill-dir"). `store_dir`:
  // the directory of the store the runs are for; `dir` inside it is InvalidArgument, nothing
  // created (its runs would be unknown files to fsck there).
  static Result<std::unique_ptr<RunSpill>> Create(Env* env, const std::string& dir,
                                                  uint64_t buffer_bytes, MemoryBudget* budget,
                                                  const std::string& context,
                                                  const std::string& store_dir);
  ~RunSpill();
  RunSpill(const RunSpill&) = delete;
  RunSpill& operator=(const RunSpill&) = delete;

  // Writes the `ops` ops of `in` (ascending (tree id, key code)) as a new run, then merges full
  // levels (tiered, as an LSM tree's size-tiered compaction: each op is rewritten about
  // log_fan_in(ops / buffer ops) times, and at most fan_in - 1 runs wait per level). On error
  // the runs may be incomplete: the caller drops them (DeleteRuns).
  Status Spill(OpStream& in, uint64_t ops);

  // The final pass: merges the smallest runs until at most fan_in are left, then returns one stream
  // of `buffer` (may be null) merged with every run. The stream holds spilled_ops() ops plus
  // the buffer's; it reads the runs, which must stay until it is destroyed. The merge's buffers
  // stay charged to the budget until DeleteRuns.
  Result<std::unique_ptr<OpStream>> MergeAll(std::unique_ptr<OpStream> buffer);

  // Deletes every run (best effort: a run left behind is a temporary file, never read again)
  // and releases the final merge's charge.
  void DeleteRuns();

  uint64_t spilled_ops() const { return spilled_ops_; }
  size_t runs() const { return runs_.size(); }
  size_t fan_in() const { return fan_in_; }
  size_t block_bytes() const { return block_bytes_; }
  // What one run's reader holds: its block and its copy of the block's tree name.
  size_t reader_bytes() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Run {
    std::string path;
    uint64_t ops = 0;
    uint64_t bytes = 0;
    uint32_t level = 0;   // 0: a spilled buffer; a merge of runs of level L: L + 1
    uint32_t number = 0;  // its RunIdentity::run_number
  };
  class Charge;

  RunSpill(Env* env, std::string dir, size_t block_bytes, size_t fan_in, MemoryBudget* budget);
  Status WriteRun(OpStream& in, uint64_t ops, uint32_t level);
  Result<std::unique_ptr<OpStream>> OpenRun(const Run& run);
  Status MergeRuns(std::vector<size_t> indexes, uint32_t level);
  Status MergeFullLevels();
  Status MergeUntilOnePass();

  Env* const env_;
  const std::string dir_;
  const size_t block_bytes_;
  const size_t fan_in_;
  MemoryBudget* const budget_;
  std::unique_ptr<FileLock> lock_;  // on dir_
  uint64_t nonce_ = 0;              // random: in every block of these runs
  uint32_t run_serial_ = 0;         // names and numbers the runs
  std::vector<Run> runs_;
  uint64_t spilled_ops_ = 0;              // ops in runs_
  std::unique_ptr<Charge> merge_charge_;  // of the stream MergeAll returned
};

}  // namespace cowtree::api_internal
