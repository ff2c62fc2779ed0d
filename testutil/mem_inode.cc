#include "testutil/mem_inode.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "testutil/crash_model.h"

namespace cowtree::testutil {

bool MemInode::has_unsynced_write() const {
  return std::any_of(unsynced_.begin(), unsynced_.end(), [](const PendingFileOp& op) {
    return op.kind == PendingFileOp::Kind::kWrite;
  });
}

uint64_t MemInode::stored_bytes() const {
  return std::max<uint64_t>(current_.size(), reserved_end_bytes_);
}

uint64_t MemInode::GrowthToSize(uint64_t size_bytes) const {
  const uint64_t after = std::max(stored_bytes(), size_bytes);
  return after - stored_bytes();
}

uint64_t MemInode::GrowthToReserve(uint64_t end_bytes) const { return GrowthToSize(end_bytes); }

size_t MemInode::Read(uint64_t offset_bytes, size_t length_bytes, char* out) const {
  if (offset_bytes >= current_.size()) return 0;
  const size_t n =
      static_cast<size_t>(std::min<uint64_t>(length_bytes, current_.size() - offset_bytes));
  std::memcpy(out, current_.data() + offset_bytes, n);
  return n;
}

void MemInode::Apply(const PendingFileOp& op, std::string* image) {
  switch (op.kind) {
    case PendingFileOp::Kind::kWrite: {
      const uint64_t end = op.offset_bytes + op.data.size();
      if (image->size() < end) image->resize(end, '\0');
      std::memcpy(image->data() + op.offset_bytes, op.data.data(), op.data.size());
      break;
    }
    case PendingFileOp::Kind::kSetSize:
      image->resize(op.offset_bytes, '\0');
      break;
    case PendingFileOp::Kind::kGrowTo:
      if (image->size() < op.offset_bytes) image->resize(op.offset_bytes, '\0');
      break;
    case PendingFileOp::Kind::kZeroRange: {
      if (op.offset_bytes >= image->size()) break;
      const uint64_t end = std::min<uint64_t>(image->size(), op.offset_bytes + op.length_bytes);
      std::memset(image->data() + op.offset_bytes, 0, end - op.offset_bytes);
      break;
    }
  }
}

void MemInode::ApplyToCurrent(const PendingFileOp& op) {
  const uint64_t old_size = current_.size();
  Apply(op, &current_);
  const uint64_t new_size = current_.size();
  switch (op.kind) {
    case PendingFileOp::Kind::kWrite:
      RefreshMappings(op.offset_bytes, op.offset_bytes + op.data.size());
      break;
    case PendingFileOp::Kind::kSetSize:
    case PendingFileOp::Kind::kGrowTo:
      RefreshMappings(std::min(old_size, new_size), std::max(old_size, new_size));
      break;
    case PendingFileOp::Kind::kZeroRange:
      RefreshMappings(op.offset_bytes, op.offset_bytes + op.length_bytes);
      break;
  }
}

void MemInode::Write(uint64_t offset_bytes, std::string_view data) {
  if (data.empty()) return;  // pwrite of 0 bytes changes nothing, not even the size
  PendingFileOp op;
  op.kind = PendingFileOp::Kind::kWrite;
  op.offset_bytes = offset_bytes;
  op.data.assign(data.data(), data.size());
  ApplyToCurrent(op);
  unsynced_.push_back(std::move(op));
}

void MemInode::SetSize(uint64_t size_bytes) {
  PendingFileOp op;
  op.kind = PendingFileOp::Kind::kSetSize;
  op.offset_bytes = size_bytes;
  ApplyToCurrent(op);
  unsynced_.push_back(std::move(op));
}

void MemInode::GrowTo(uint64_t size_bytes) {
  if (size_bytes <= current_.size()) return;
  PendingFileOp op;
  op.kind = PendingFileOp::Kind::kGrowTo;
  op.offset_bytes = size_bytes;
  ApplyToCurrent(op);
  unsynced_.push_back(std::move(op));
}

void MemInode::ZeroRange(uint64_t offset_bytes, uint64_t length_bytes) {
  if (length_bytes == 0 || offset_bytes >= current_.size()) return;
  PendingFileOp op;
  op.kind = PendingFileOp::Kind::kZeroRange;
  op.offset_bytes = offset_bytes;
  op.length_bytes = length_bytes;
  ApplyToCurrent(op);
  unsynced_.push_back(std::move(op));
}

void MemInode::Reserve(uint64_t end_bytes) {
  reserved_end_bytes_ = std::max(reserved_end_bytes_, end_bytes);
}

void MemInode::Sync() {
  for (const PendingFileOp& op : unsynced_) Apply(op, &durable_);
  unsynced_.clear();
}

void MemInode::ResetCurrentToDurable() {
  const uint64_t old_size = current_.size();
  current_ = durable_;
  RefreshMappings(0, std::max<uint64_t>(old_size, current_.size()));
}

void MemInode::DropUnsynced() {
  unsynced_.clear();
  ResetCurrentToDurable();
}

InodeCrashResult MemInode::CrashKeepAll() {
  InodeCrashResult r;
  r.ops_kept = unsynced_.size();
  Sync();
  reserved_end_bytes_ = 0;
  return r;
}

InodeCrashResult MemInode::CrashDropUnsynced() {
  InodeCrashResult r;
  r.ops_dropped = unsynced_.size();
  DropUnsynced();
  reserved_end_bytes_ = 0;
  return r;
}

InodeCrashResult MemInode::CrashKeepRandomSubset(DeterministicRng* rng) {
  InodeCrashResult r;
  // Kept writes issued back to back (no kept size change between them) may reach the disk in
  // any order: collect them and apply them shuffled.
  std::vector<const PendingFileOp*> run;
  auto flush_run = [&] {
    for (size_t i = run.size(); i > 1; --i) std::swap(run[i - 1], run[rng->Uniform(i)]);
    for (const PendingFileOp* op : run) Apply(*op, &durable_);
    run.clear();
  };
  for (const PendingFileOp& op : unsynced_) {
    if (!rng->Bool()) {
      ++r.ops_dropped;
      continue;
    }
    ++r.ops_kept;
    if (op.kind == PendingFileOp::Kind::kWrite) {
      run.push_back(&op);
    } else {
      flush_run();
      Apply(op, &durable_);
    }
  }
  flush_run();
  unsynced_.clear();
  ResetCurrentToDurable();
  reserved_end_bytes_ = 0;
  return r;
}

InodeCrashResult MemInode::CrashTearLastWrite(DeterministicRng* rng, bool tail_is_garbage) {
  InodeCrashResult r;
  size_t last = unsynced_.size();
  for (size_t i = unsynced_.size(); i > 0; --i) {
    if (unsynced_[i - 1].kind == PendingFileOp::Kind::kWrite) {
      last = i - 1;
      break;
    }
  }
  if (last == unsynced_.size()) return CrashDropUnsynced();  // nothing to tear

  for (size_t i = 0; i < last; ++i) Apply(unsynced_[i], &durable_);
  r.ops_kept = last;
  r.ops_dropped = unsynced_.size() - last;  // the torn write counts as dropped

  const PendingFileOp& op = unsynced_[last];
  const uint64_t begin = op.offset_bytes;
  const uint64_t end = begin + op.data.size();
  const uint64_t first_sector = begin / kSectorBytes;
  const uint64_t sectors = (end - 1) / kSectorBytes - first_sector + 1;
  const uint64_t sectors_kept = rng->Uniform(sectors);  // the last sector is always lost
  const uint64_t tear = std::max(begin, (first_sector + sectors_kept) * kSectorBytes);

  // The size update made it (metadata is journaled); sectors never written keep the old bytes
  // where the file had them and read as zeros past the old end.
  if (durable_.size() < end) durable_.resize(end, '\0');
  std::memcpy(durable_.data() + begin, op.data.data(), tear - begin);
  if (tail_is_garbage) {
    for (uint64_t i = tear; i < end; i += 8) {
      const uint64_t word = rng->Next();
      std::memcpy(durable_.data() + i, &word, std::min<uint64_t>(8, end - i));
    }
  }
  r.torn = true;
  r.torn_offset_bytes = begin;
  r.torn_length_bytes = op.data.size();
  r.torn_kept_bytes = tear - begin;
  unsynced_.clear();
  ResetCurrentToDurable();
  reserved_end_bytes_ = 0;
  return r;
}

std::shared_ptr<MapBuffer> MemInode::AddMapping(uint64_t offset_bytes, size_t length_bytes) {
  auto mapping = std::make_shared<MapBuffer>();
  mapping->offset_bytes = offset_bytes;
  mapping->bytes.assign(length_bytes, '\0');
  Read(offset_bytes, length_bytes, mapping->bytes.data());
  std::erase_if(mappings_, [](const std::weak_ptr<MapBuffer>& m) { return m.expired(); });
  mappings_.push_back(mapping);
  return mapping;
}

void MemInode::RefreshMappings(uint64_t begin_bytes, uint64_t end_bytes) {
  if (mappings_.empty() || begin_bytes >= end_bytes) return;
  for (const std::weak_ptr<MapBuffer>& weak : mappings_) {
    std::shared_ptr<MapBuffer> m = weak.lock();
    if (m == nullptr) continue;
    const uint64_t m_end = m->offset_bytes + m->bytes.size();
    const uint64_t b = std::max(begin_bytes, m->offset_bytes);
    const uint64_t e = std::min(end_bytes, m_end);
    if (b >= e) continue;
    char* dst = m->bytes.data() + (b - m->offset_bytes);
    const uint64_t data_end = std::min<uint64_t>(e, std::max<uint64_t>(b, current_.size()));
    std::memcpy(dst, current_.data() + std::min<uint64_t>(b, current_.size()), data_end - b);
    std::memset(dst + (data_end - b), 0, e - data_end);
  }
}

}  // namespace cowtree::testutil
