// Sorted runs of a BulkLoader that spills (include/cowtree/bulk_loader.h, Options::spill_dir):
// a full buffer sorted by (tree id, key) and written to a temporary file instead of being
// committed, so that Flush can merge every run and commit the whole load in one pass in key
// order (an external merge sort, Knuth TAOCP vol. 3 §5.4.1). Format: docs/loader_run.md.
//
// Why: a flush commits its ops in key order, so each leaf it touches is read and written once
// per flush. When the load is much larger than the buffer, every flush touches most of the
// tree: loading N ops through buffers of B ops rewrites about N^2 / (2B) entries (10^9 random
// keys through 64 M-op buffers: 16 flushes, each rewriting most leaves). Runs written to disk
// and merged once at the end make it N: each op is written and read back once (a few bytes:
// its key's gap from the previous key and its weight, as varints), and the tree is written
// once, in order.
//
// A run is a sequence of blocks; each block holds ops of one tree in order, with the tree's id,
// key type and name in its header so that a reader needs no table of trees. Ops are raw (the
// ops of one key are not summed: a flush counts ops, and its progress must be the same with or
// without spilling).
//
// Errors: the writer returns the Env's errors (IOError, NoSpace) naming the file. The reader
// returns Corruption naming the file, the block's offset and what was expected (magic, checksum,
// reserved bytes, counts, order, a varint), and the Env's IOError for a failed read. Nothing in
// a run is trusted before its checksum and bounds are checked.
// Thread-safety: none (one loader thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cowtree/types.h"
#include "persistence/env.h"
#include "persistence/status.h"

namespace cowtree::api_internal {

// Block header (little-endian; docs/loader_run.md):
//   0 u32 magic kRunBlockMagic
//   4 u32 crc32c of bytes [8, kRunBlockHeaderBytes + payload_bytes)
//   8 u32 payload_bytes (name bytes + encoded ops)
//  12 u32 op_count (>= 1)
//  16 u64 tree_id (>= 1)
//  24 u8  key_type (1 int64, 2 double: cowtree::KeyType)
//  25 u8[3] reserved, zero
//  28 u32 name_bytes (1..kTreeNameBytesMax)
//  32 u64 loader_nonce (random, one per loader: a run of another loader is refused)
//  40 u32 run_number (the run's number in its loader: a sibling run copied over it is refused)
//  44 u32 block_index (0, 1, ... in the run: a block repeated, dropped or moved is refused)
// then the payload: the tree's name, then op_count ops, each [varint key gap][varint zigzag
// weight], the first gap taken from 0 (so it is the key code itself) and each later one from
// the previous op's key code of the block.
inline constexpr uint32_t kRunBlockMagic = 0x42525443;  // "CTRB"
inline constexpr size_t kRunBlockHeaderBytes = 48;
// The most one op takes encoded: two varints of 64 bits.
inline constexpr size_t kRunOpBytesMax = 20;

// Which run a file must be: its loader's random nonce and its number there. Every block of
// the file carries both under its checksum.
struct RunIdentity {
  uint64_t loader_nonce = 0;
  uint32_t run_number = 0;
};

// A tree of a run or of the loader's buffer: what a commit needs to name it.
struct LoaderTree {
  uint64_t tree_id = 0;
  KeyType type = KeyType::kInt64;
  std::string name;
};

// Writes one run. Ops must come in ascending (tree id, key code) order (equal ops allowed).
class RunWriter {
 public:
  // Creates `path` (must not exist: OpenMode::kCreateExclusive). A block is closed when its
  // ops' bytes reach block_bytes (>= 256) or its tree changes. Errors: the Env's.
  static Result<std::unique_ptr<RunWriter>> Create(Env* env, const std::string& path,
                                                   RunIdentity identity, size_t block_bytes);
  // Appends an op of `tree` (whose id, type and name stay the same for one tree id). Errors:
  // the Env's, for the block this closes. Precondition (asserted): order above, weight != 0.
  Status Add(const LoaderTree& tree, uint64_t key_code, int64_t weight);
  // Writes the last block. No fdatasync: a run lives only as long as its loader, and a crash
  // loses what it holds as it loses the buffer (the caller deletes the file).
  Status Finish();
  uint64_t ops() const { return ops_; }
  uint64_t bytes() const { return offset_; }  // written by Finish (or by closed blocks before)
  const std::string& path() const { return path_; }

 private:
  RunWriter(std::unique_ptr<File> file, std::string path, RunIdentity identity, size_t block_bytes);
  Status CloseBlock();

  std::unique_ptr<File> file_;
  const std::string path_;
  const RunIdentity identity_;
  const size_t block_bytes_;
  uint32_t block_index_ = 0;  // of the open block
  std::string block_;         // header (filled at close) + name + ops of the open block
  uint32_t block_ops_ = 0;
  uint64_t block_tree_id_ = 0;
  KeyType block_type_ = KeyType::kInt64;
  uint32_t block_name_bytes_ = 0;
  uint64_t last_tree_id_ = 0;
  uint64_t last_key_ = 0;
  uint64_t offset_ = 0;  // bytes written
  uint64_t ops_ = 0;     // ops added
};

// Reads one run back, op by op, checking each block before use.
class RunReader {
 public:
  // Opens `path`, the run `identity` that its writer reported as holding `ops` ops in `bytes`
  // bytes, with blocks of at most block_bytes of ops (the writer's). Errors: Corruption (the
  // file is missing: deleted by another process), the Env's IOError.
  static Result<std::unique_ptr<RunReader>> Open(Env* env, const std::string& path,
                                                 RunIdentity identity, uint64_t ops, uint64_t bytes,
                                                 size_t block_bytes);
  // Moves to the next op: *has is false at the end of the run (after checking that it held
  // exactly the ops and bytes expected). Errors: Corruption (see above), IOError.
  Status Next(bool* has);
  // The current op (valid after Next set *has).
  const LoaderTree& tree() const { return tree_; }
  uint64_t key_code() const { return key_; }
  int64_t weight() const { return weight_; }
  // Bytes the reader holds (its block buffer).
  size_t buffer_bytes() const { return block_.capacity(); }

 private:
  RunReader(std::unique_ptr<File> file, std::string path, RunIdentity identity, uint64_t ops,
            uint64_t bytes, size_t block_bytes);
  Status ReadBlock();
  Status Corrupt(uint64_t offset, const std::string& what) const;

  std::unique_ptr<File> file_;
  const std::string path_;
  const RunIdentity identity_;
  uint32_t next_block_index_ = 0;
  const uint64_t expected_ops_;
  const uint64_t expected_bytes_;
  const size_t payload_bytes_max_;
  std::string block_;          // the current block's payload
  size_t pos_ = 0;             // next op's offset in block_
  uint32_t block_left_ = 0;    // ops of the current block not yet read
  uint64_t block_offset_ = 0;  // file offset of the current block
  uint64_t next_offset_ = 0;   // file offset of the next block
  uint64_t ops_read_ = 0;
  LoaderTree tree_;
  uint64_t key_ = 0;
  int64_t weight_ = 0;
  bool started_ = false;           // an op was read (key_ and tree_ are the previous op's)
  bool block_first_ = false;       // the next op is its block's first
  uint64_t previous_tree_id_ = 0;  // the tree of the block before the current one
};

}  // namespace cowtree::api_internal
