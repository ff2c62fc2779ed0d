// The ops of a BulkLoader flush as one ordered stream (include/cowtree/bulk_loader.h): its
// sorted buffer alone, or the buffer merged with the runs it spilled (api/loader_run.h), as a
// k-way merge through a binary heap (Knuth TAOCP vol. 3 §5.4.1).
//
// Order: ascending (tree, key code). For the buffer alone, trees come in the order its sort gave
// them (SortBuffer::Sort's rank); in a merge they come by ascending tree id, the order of runs
// (the buffer is then sorted by tree id too). Ops of one key from several sources come one after
// the other, in no particular order among themselves (a flush sums them).
// Errors: those of RunReader::Next (Corruption naming the run, IOError).
// Thread-safety: none (one loader thread). Lifetime: a stream must not outlive the buffer,
// trees and readers it was given.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "api/loader_run.h"
#include "api/sort_buffer.h"

namespace cowtree::api_internal {

class OpStream {
 public:
  virtual ~OpStream() = default;
  // Moves to the next op; *has is false at the end.
  virtual Status Next(bool* has) = 0;
  // The current op (valid after Next set *has). tree() stays valid until the next Next.
  virtual const LoaderTree& tree() const = 0;
  virtual uint64_t key_code() const = 0;
  virtual int64_t weight() const = 0;
};

// The ops of a sorted SortBuffer; tree_of_group[g] is the tree of sorted group g.
class BufferStream final : public OpStream {
 public:
  BufferStream(const SortBuffer& ops, std::span<const LoaderTree* const> tree_of_group)
      : ops_(ops), tree_of_group_(tree_of_group) {}
  Status Next(bool* has) override;
  const LoaderTree& tree() const override { return *tree_; }
  uint64_t key_code() const override { return op_.key_code; }
  int64_t weight() const override { return op_.weight; }

 private:
  const SortBuffer& ops_;
  const std::span<const LoaderTree* const> tree_of_group_;
  size_t next_ = 0;
  SortedOp op_;
  const LoaderTree* tree_ = nullptr;
};

// The ops of a run.
class RunStream final : public OpStream {
 public:
  explicit RunStream(std::unique_ptr<RunReader> reader) : reader_(std::move(reader)) {}
  Status Next(bool* has) override { return reader_->Next(has); }
  const LoaderTree& tree() const override { return reader_->tree(); }
  uint64_t key_code() const override { return reader_->key_code(); }
  int64_t weight() const override { return reader_->weight(); }

 private:
  std::unique_ptr<RunReader> reader_;
};

// Merges streams ordered by ascending (tree id, key code).
class MergeStream final : public OpStream {
 public:
  explicit MergeStream(std::vector<std::unique_ptr<OpStream>> sources)
      : sources_(std::move(sources)) {}
  Status Next(bool* has) override;
  const LoaderTree& tree() const override { return sources_[heap_[0].source]->tree(); }
  uint64_t key_code() const override { return heap_[0].key_code; }
  int64_t weight() const override { return sources_[heap_[0].source]->weight(); }

 private:
  // A source with a current op, and that op's order (copied: the heap compares without a
  // virtual call).
  struct Head {
    uint64_t tree_id = 0;
    uint64_t key_code = 0;
    uint32_t source = 0;
    bool operator<(const Head& o) const {
      return tree_id != o.tree_id ? tree_id < o.tree_id : key_code < o.key_code;
    }
  };
  Head HeadOf(uint32_t source) const;
  void SiftDown(size_t i);

  std::vector<std::unique_ptr<OpStream>> sources_;
  std::vector<Head> heap_;  // sources with a current op; the smallest first
  bool started_ = false;
  uint64_t last_tree_id_ = 0;  // the previous op's (order is asserted)
  uint64_t last_key_ = 0;
};

}  // namespace cowtree::api_internal
