#include "persistence/segment_allocator.h"

#include <algorithm>
#include <bit>

#include "persistence/assert.h"
#include "persistence/data_file_format.h"
#include "persistence/file_names.h"

namespace cowtree {

struct SegmentAllocator::ClassState {
  uint32_t class_bytes = 0;
  uint64_t segment_bytes = 0;
  uint32_t slots_per_segment = 0;  // 16 ... 4096
  uint32_t words_per_segment = 0;  // bitmap words: 1 ... 64
  std::string name;
  std::string path;

  std::unique_ptr<File> file;            // set once, under mu_
  std::atomic<File*> file_ptr{nullptr};  // published (release) after file and window_file_id
  uint32_t window_file_id = 0;
  std::atomic<uint64_t> size_bytes{0};  // visible size: segments * segment_bytes
  std::atomic<bool> dirty{false};       // written or grown since the last SyncDirty
  // Bytes of pages dirtied by Write since the last write-back hint or SyncDirty.
  std::atomic<uint64_t> writeback_pending_bytes{0};
  uint64_t aligned_size_bytes = 0;      // > size_bytes until PrepareForWrites extends the file
  bool header_unwritten = false;        // an adopted file without a header (PrepareForWrites)

  // Under mu_. Bit set = slot free. summaries[s] bit w set iff free_words[s * wps + w] != 0.
  uint64_t segments = 0;
  std::vector<uint64_t> free_words;
  std::vector<uint64_t> summaries;
  std::vector<uint32_t> used;     // used slots per segment
  std::vector<uint8_t> in_stack;  // segment is on `stack`
  std::vector<uint64_t> stack;    // segments with a free slot; allocate from back()
  bool stack_stale = false;       // MarkUsed changed fullness; rebuild before use
  uint64_t low_hint = 0;          // every segment below it is full (AllocateBelow starts here)
  uint64_t used_slots = 0;

  uint64_t FullSummary() const {
    return words_per_segment == 64 ? ~uint64_t{0} : (uint64_t{1} << words_per_segment) - 1;
  }
  void AddSegment() {
    for (uint32_t w = 0; w < words_per_segment; ++w) {
      const uint32_t bits = std::min<uint32_t>(64, slots_per_segment - w * 64);
      free_words.push_back(bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1);
    }
    summaries.push_back(FullSummary());
    used.push_back(0);
    in_stack.push_back(0);
    ++segments;
  }
  void Push(uint64_t segment) {
    stack.push_back(segment);
    in_stack[segment] = 1;
  }
};

SegmentAllocator::SegmentAllocator(Env* env, std::string dir,
                                   const SegmentAllocatorOptions& options)
    : env_(env), dir_(std::move(dir)), options_(options) {
  windows_ = std::make_unique<MmapWindowCache>(options_.mmap_windows_max);
  for (int i = 0; i < kSizeClassCount; ++i) {
    auto c = std::make_unique<ClassState>();
    c->class_bytes = SizeClassBytesAt(i);
    c->segment_bytes = SegmentBytes(c->class_bytes);
    c->slots_per_segment = static_cast<uint32_t>(c->segment_bytes / c->class_bytes);
    c->words_per_segment = (c->slots_per_segment + 63) / 64;
    c->name = DataFileName(c->class_bytes);
    c->path = JoinPath(dir_, c->name);
    classes_[i] = std::move(c);
  }
}

SegmentAllocator::~SegmentAllocator() { windows_.reset(); }  // unmap before closing files

uint64_t SegmentAllocator::SegmentBytes(uint32_t size_class_bytes) const {
  return std::clamp<uint64_t>(options_.segment_size_bytes, uint64_t{16} * size_class_bytes,
                              uint64_t{4096} * size_class_bytes);
}

Result<uint32_t> SegmentAllocator::SizeClassFor(uint32_t length_bytes) {
  if (length_bytes == 0) return Status::InvalidArgument("object length 0");
  if (length_bytes > kMaxSizeClassBytes) {
    return Status::InvalidArgument("object of " + std::to_string(length_bytes) +
                                   " bytes: objects larger than 256 KiB are not supported");
  }
  return std::max(kMinSizeClassBytes, std::bit_ceil(length_bytes));
}

Result<std::unique_ptr<SegmentAllocator>> SegmentAllocator::Open(
    Env* env, const std::string& dir, const SegmentAllocatorOptions& options,
    const std::vector<DataFileInfo>& existing) {
  if (options.store_id.is_zero()) {
    return Status::InvalidArgument("segment allocator options: store_id must be non-zero");
  }
  if (!std::has_single_bit(options.segment_size_bytes) ||
      !std::has_single_bit(options.mmap_window_bytes) || options.mmap_window_bytes < 4096 ||
      options.mmap_windows_max == 0) {
    return Status::InvalidArgument(
        "segment allocator options: segment_size_bytes and mmap_window_bytes must be powers of "
        "two (window >= 4096) and mmap_windows_max >= 1");
  }
  std::unique_ptr<SegmentAllocator> a(new SegmentAllocator(env, dir, options));
  std::lock_guard<std::mutex> lock(a->mu_);
  bool listed[kSizeClassCount] = {};
  for (const DataFileInfo& f : existing) {
    if (!IsValidSizeClass(f.size_class_bytes)) {
      return Status::Corruption("manifest lists a data file of size class " +
                                std::to_string(f.size_class_bytes) + " (not a valid class)");
    }
    const int i = SizeClassIndex(f.size_class_bytes);
    if (listed[i]) {
      return Status::Corruption("manifest lists " + DataFileName(f.size_class_bytes) + " twice");
    }
    listed[i] = true;
    COWTREE_RETURN_IF_ERROR(a->OpenExisting(*a->classes_[i], f.size_bytes, false));
  }
  for (int i = 0; i < kSizeClassCount; ++i) {
    if (!listed[i] && env->FileExists(a->classes_[i]->path)) {
      COWTREE_RETURN_IF_ERROR(a->OpenExisting(*a->classes_[i], 0, true));
    }
  }
  return a;
}

Status SegmentAllocator::OpenExisting(ClassState& c, uint64_t min_size_bytes, bool adopted) {
  Result<std::unique_ptr<File>> file =
      env_->OpenFile(c.path, options_.read_only ? OpenMode::kReadOnly : OpenMode::kReadWrite);
  if (!file.ok()) {
    if (file.status().IsNotFound()) {
      return Status::Corruption("data file " + c.path + " is listed in the manifest but missing");
    }
    return file.status();
  }
  COWTREE_ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  if (size < min_size_bytes) {
    return Status::Corruption("data file " + c.path + " has " + std::to_string(size) +
                              " bytes, the manifest recorded " + std::to_string(min_size_bytes));
  }
  // The header names the store and the class. A listed file must carry a valid one. An adopted
  // file (created just before a crash, so no live object can be in it) may have none, or a torn
  // one: it is (re)written before the first write (PrepareForWrites).
  std::string header(kDataFileHeaderBytes, '\0');
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR((*file)->ReadAt(0, header.size(), header.data(), &got));
  header.resize(got);
  if (adopted) {
    c.header_unwritten =
        !VerifyDataFileHeader(header, c.class_bytes, options_.store_id, c.path).ok();
  } else {
    COWTREE_RETURN_IF_ERROR(VerifyDataFileHeader(header, c.class_bytes, options_.store_id, c.path));
  }
  // Grown with another segment size, or cut inside a segment: PrepareForWrites extends it to
  // a whole segment so that every slot of the last segment is inside the file (reads never
  // pass EOF). Nothing is written while opening.
  const uint64_t aligned = (size + c.segment_bytes - 1) / c.segment_bytes * c.segment_bytes;
  c.aligned_size_bytes = aligned;
  c.file = std::move(file).value();
  c.window_file_id = windows_->AddFile(
      c.file.get(), std::max<uint64_t>(options_.mmap_window_bytes, c.class_bytes));
  while (c.segments < aligned / c.segment_bytes) c.AddSegment();
  if (c.segments > 0) ReserveHeaderSlot(c);
  c.stack_stale = true;
  c.size_bytes.store(size, std::memory_order_release);
  c.file_ptr.store(c.file.get(), std::memory_order_release);
  if (adopted) created_files_.push_back(c.name);
  return Status::OK();
}

Status SegmentAllocator::PrepareForWrites() {
  std::lock_guard<std::mutex> lock(mu_);
  return PrepareLocked();
}

Status SegmentAllocator::PrepareLocked() {
  if (options_.read_only)
    return Status::InvalidArgument("data files of " + dir_ + " are read-only");
  if (prepared_) return Status::OK();
  for (auto& cp : classes_) {
    if (cp->file != nullptr && cp->header_unwritten) COWTREE_RETURN_IF_ERROR(WriteHeader(*cp));
  }
  for (auto& cp : classes_) {
    ClassState& c = *cp;
    const uint64_t size = c.size_bytes.load(std::memory_order_acquire);
    if (c.file == nullptr || c.aligned_size_bytes <= size) continue;
    COWTREE_RETURN_IF_ERROR(
        c.file->Allocate(size, c.aligned_size_bytes - size, /*keep_size=*/false));
    c.size_bytes.store(c.aligned_size_bytes, std::memory_order_release);
    c.dirty.store(true);
  }
  prepared_ = true;
  return Status::OK();
}

Status SegmentAllocator::CreateFile(ClassState& c) {
  COWTREE_ASSIGN_OR_RETURN(c.file, env_->OpenFile(c.path, OpenMode::kCreateExclusive));
  c.window_file_id = windows_->AddFile(
      c.file.get(), std::max<uint64_t>(options_.mmap_window_bytes, c.class_bytes));
  c.file_ptr.store(c.file.get(), std::memory_order_release);
  created_files_.push_back(c.name);
  c.header_unwritten = true;  // until WriteHeader succeeds: a failed write is retried by Grow
  COWTREE_RETURN_IF_ERROR(WriteHeader(c));
  // The new name must be durable before any object in it is referenced.
  return env_->SyncDir(dir_).WithContext("creating data file " + c.path);
}

Status SegmentAllocator::Grow(ClassState& c) {
  if (c.file == nullptr) {
    COWTREE_RETURN_IF_ERROR(CreateFile(c));
  } else if (c.header_unwritten) {
    COWTREE_RETURN_IF_ERROR(WriteHeader(c));  // an earlier attempt failed (e.g. NoSpace)
  }
  const uint64_t offset = c.segments * c.segment_bytes;
  COWTREE_RETURN_IF_ERROR(c.file->Allocate(offset, c.segment_bytes, /*keep_size=*/false));
  c.AddSegment();
  if (c.segments == 1) ReserveHeaderSlot(c);
  c.size_bytes.store(offset + c.segment_bytes, std::memory_order_release);
  c.dirty.store(true);
  c.Push(c.segments - 1);
  return Status::OK();
}

// Slot 0 holds the file header: never free, never an object's.
void SegmentAllocator::ReserveHeaderSlot(ClassState& c) {
  COWTREE_ASSERT(c.segments >= 1 && (c.free_words[0] & 1) != 0);
  c.free_words[0] &= ~uint64_t{1};
  if (c.free_words[0] == 0) c.summaries[0] &= ~uint64_t{1};
  ++c.used[0];
  c.stack_stale = true;
}

Status SegmentAllocator::WriteHeader(ClassState& c) {
  COWTREE_RETURN_IF_ERROR(
      c.file->WriteAt(0, EncodeDataFileHeader(c.class_bytes, options_.store_id)));
  c.header_unwritten = false;
  c.dirty.store(true);  // synced with the first objects, before any of them is referenced
  return Status::OK();
}

void SegmentAllocator::RebuildStackIfNeeded(ClassState& c) {
  if (!c.stack_stale) return;
  c.stack.clear();
  std::fill(c.in_stack.begin(), c.in_stack.end(), 0);
  // Lowest segment on top: allocation fills the front of the file first.
  for (uint64_t s = c.segments; s-- > 0;) {
    if (c.summaries[s] != 0) c.Push(s);
  }
  c.stack_stale = false;
}

Result<ObjectAddress> SegmentAllocator::Allocate(uint32_t length_bytes) {
  COWTREE_ASSIGN_OR_RETURN(uint32_t class_bytes, SizeClassFor(length_bytes));
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_RETURN_IF_ERROR(PrepareLocked());  // no-op after the first call
  ClassState& c = *classes_[SizeClassIndex(class_bytes)];
  RebuildStackIfNeeded(c);
  if (c.stack.empty()) COWTREE_RETURN_IF_ERROR(Grow(c));
  const uint64_t s = c.stack.back();
  const int w = std::countr_zero(c.summaries[s]);
  uint64_t& word = c.free_words[s * c.words_per_segment + w];
  const int b = std::countr_zero(word);
  word &= word - 1;
  if (word == 0) c.summaries[s] &= ~(uint64_t{1} << w);
  ++c.used[s];
  ++c.used_slots;
  if (c.summaries[s] == 0) {
    c.stack.pop_back();
    c.in_stack[s] = 0;
  }
  const uint64_t slot = s * c.slots_per_segment + static_cast<uint64_t>(w) * 64 + b;
  return ObjectAddress{class_bytes, slot * class_bytes, length_bytes};
}

void SegmentAllocator::Free(const ObjectAddress& address) {
  COWTREE_ASSERT(ValidateObjectAddress(address).ok());
  std::lock_guard<std::mutex> lock(mu_);
  ClassState& c = *classes_[SizeClassIndex(address.size_class_bytes)];
  const uint64_t slot = address.slot();
  COWTREE_ASSERT(slot < c.segments * c.slots_per_segment);
  const uint64_t s = slot / c.slots_per_segment;
  const uint32_t in_seg = static_cast<uint32_t>(slot % c.slots_per_segment);
  uint64_t& word = c.free_words[s * c.words_per_segment + in_seg / 64];
  const uint64_t bit = uint64_t{1} << (in_seg % 64);
  COWTREE_ASSERT((word & bit) == 0);  // double free
  word |= bit;
  c.summaries[s] |= uint64_t{1} << (in_seg / 64);
  --c.used[s];
  --c.used_slots;
  c.low_hint = std::min(c.low_hint, s);
  if (!c.stack_stale && !c.in_stack[s]) c.Push(s);
}

Result<ObjectAddress> SegmentAllocator::AllocateBelow(uint32_t length_bytes,
                                                      uint64_t limit_offset_bytes) {
  COWTREE_ASSIGN_OR_RETURN(uint32_t class_bytes, SizeClassFor(length_bytes));
  std::lock_guard<std::mutex> lock(mu_);
  COWTREE_RETURN_IF_ERROR(PrepareLocked());
  ClassState& c = *classes_[SizeClassIndex(class_bytes)];
  const uint64_t limit_segments =
      std::min(c.segments, (limit_offset_bytes + c.segment_bytes - 1) / c.segment_bytes);
  for (uint64_t s = c.low_hint; s < limit_segments; ++s) {
    if (c.summaries[s] == 0) {
      if (s == c.low_hint) ++c.low_hint;
      continue;
    }
    const int w = std::countr_zero(c.summaries[s]);
    uint64_t& word = c.free_words[s * c.words_per_segment + w];
    const int b = std::countr_zero(word);
    const uint64_t slot = s * c.slots_per_segment + static_cast<uint64_t>(w) * 64 + b;
    if (slot * class_bytes >= limit_offset_bytes) break;
    word &= word - 1;
    if (word == 0) c.summaries[s] &= ~(uint64_t{1} << w);
    ++c.used[s];
    ++c.used_slots;
    c.stack_stale = true;  // s may have become full: rebuild the stack before the next Allocate
    return ObjectAddress{class_bytes, slot * class_bytes, length_bytes};
  }
  return Status::NotFound("no free slot in " + c.name + " below offset " +
                          std::to_string(limit_offset_bytes));
}

uint64_t SegmentAllocator::ReleaseTail(uint32_t size_class_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  ClassState& c = *classes_[SizeClassIndex(size_class_bytes)];
  if (c.file == nullptr || c.segments <= 1) return 0;
  uint64_t keep = c.segments;
  while (keep > 1 && c.used[keep - 1] == 0) --keep;
  if (keep == c.segments) return 0;
  const uint64_t old_size = c.size_bytes.load(std::memory_order_acquire);
  c.segments = keep;
  c.free_words.resize(keep * c.words_per_segment);
  c.summaries.resize(keep);
  c.used.resize(keep);
  c.in_stack.resize(keep);
  c.stack_stale = true;
  c.low_hint = std::min(c.low_hint, keep);
  const uint64_t new_size = keep * c.segment_bytes;
  c.aligned_size_bytes = new_size;
  c.size_bytes.store(new_size, std::memory_order_release);
  return old_size > new_size ? old_size - new_size : 0;
}

Result<uint64_t> SegmentAllocator::TruncateFiles() {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.read_only)
    return Status::InvalidArgument("data files of " + dir_ + " are read-only");
  uint64_t cut = 0;
  for (auto& cp : classes_) {
    ClassState& c = *cp;
    if (c.file == nullptr) continue;
    COWTREE_ASSIGN_OR_RETURN(uint64_t actual, c.file->Size());
    const uint64_t size = c.size_bytes.load(std::memory_order_acquire);
    if (actual <= size) continue;
    if (Status st = c.file->Truncate(size); !st.ok()) {
      return st.WithContext("truncating data file " + c.path + " to " + std::to_string(size));
    }
    c.dirty.store(true);
    cut += actual - size;
  }
  return cut;
}

Result<uint64_t> SegmentAllocator::PunchFreeRuns(uint64_t min_run_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.read_only)
    return Status::InvalidArgument("data files of " + dir_ + " are read-only");
  uint64_t punched = 0;
  for (auto& cp : classes_) {
    ClassState& c = *cp;
    if (c.file == nullptr) continue;
    const uint64_t slots = c.segments * c.slots_per_segment;
    auto is_free = [&](uint64_t slot) {
      const uint64_t s = slot / c.slots_per_segment;
      const uint32_t in_seg = static_cast<uint32_t>(slot % c.slots_per_segment);
      return (c.free_words[s * c.words_per_segment + in_seg / 64] >> (in_seg % 64)) & 1;
    };
    for (uint64_t slot = 1; slot < slots;) {
      if (!is_free(slot)) {
        ++slot;
        continue;
      }
      uint64_t end = slot;
      while (end < slots && is_free(end)) ++end;
      const uint64_t length = (end - slot) * c.class_bytes;
      if (length >= min_run_bytes) {
        Status st = c.file->PunchHole(slot * c.class_bytes, length);
        if (st.IsNotSupported()) return punched;
        if (!st.ok()) return st.WithContext("punching free slots of " + c.path);
        punched += length;
      }
      slot = end;
    }
  }
  return punched;
}

std::vector<uint32_t> SegmentAllocator::SegmentUsage(uint32_t size_class_bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  return classes_[SizeClassIndex(size_class_bytes)]->used;
}

Status SegmentAllocator::CheckInFile(const ObjectAddress& address, const ClassState& c) const {
  if (c.file_ptr.load(std::memory_order_acquire) == nullptr) {
    return Status::Corruption("object at " + DescribeAddress(address) + ": the store has no " +
                              c.name);
  }
  const uint64_t size = c.size_bytes.load(std::memory_order_acquire);
  // Written so that it cannot wrap: offset + class overflowed for an offset near 2^64 (a crafted
  // object table) and passed, and MarkUsed then wrote far outside its bitmap (adversarial round).
  if (address.size_class_bytes > size || address.offset_bytes > size - address.size_class_bytes) {
    return Status::Corruption("object at " + DescribeAddress(address) + " is past the end of " +
                              c.name + " (" + std::to_string(size) + " bytes)");
  }
  return Status::OK();
}

Status SegmentAllocator::MarkUsed(const ObjectAddress& address, NodeID owner) {
  Status st = ValidateObjectAddress(address);
  if (!st.ok()) return st.WithContext(DescribeNodeId(owner));
  std::lock_guard<std::mutex> lock(mu_);
  ClassState& c = *classes_[SizeClassIndex(address.size_class_bytes)];
  st = CheckInFile(address, c);
  if (!st.ok()) return st.WithContext(DescribeNodeId(owner));
  const uint64_t slot = address.slot();
  if (slot == 0) {
    return Status::Corruption("object at " + DescribeAddress(address) + " (" +
                              DescribeNodeId(owner) + ") overlaps the header of " + c.name +
                              " (slot 0 is never an object's)");
  }
  const uint64_t s = slot / c.slots_per_segment;
  const uint32_t in_seg = static_cast<uint32_t>(slot % c.slots_per_segment);
  uint64_t& word = c.free_words[s * c.words_per_segment + in_seg / 64];
  const uint64_t bit = uint64_t{1} << (in_seg % 64);
  if ((word & bit) == 0) {
    return Status::Corruption("two live objects overlap at " + c.name + " offset " +
                              std::to_string(address.offset_bytes) + ": " + DescribeNodeId(owner) +
                              " and an object marked before it");
  }
  word &= ~bit;
  if (word == 0) c.summaries[s] &= ~(uint64_t{1} << (in_seg / 64));
  ++c.used[s];
  ++c.used_slots;
  c.stack_stale = true;
  return Status::OK();
}

bool SegmentAllocator::IsUsed(const ObjectAddress& address) const {
  if (!ValidateObjectAddress(address).ok()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  const ClassState& c = *classes_[SizeClassIndex(address.size_class_bytes)];
  const uint64_t slot = address.slot();
  if (slot >= c.segments * c.slots_per_segment) return false;
  const uint64_t s = slot / c.slots_per_segment;
  const uint32_t in_seg = static_cast<uint32_t>(slot % c.slots_per_segment);
  return (c.free_words[s * c.words_per_segment + in_seg / 64] & (uint64_t{1} << (in_seg % 64))) ==
         0;
}

Status SegmentAllocator::Write(const ObjectAddress& address, std::string_view bytes) {
  COWTREE_ASSERT(bytes.size() == address.length_bytes);
  COWTREE_ASSERT(IsUsed(address));  // never write a slot that is not allocated
  ClassState& c = *classes_[SizeClassIndex(address.size_class_bytes)];
  File* file = c.file_ptr.load(std::memory_order_acquire);
  COWTREE_ASSERT(file != nullptr);
  COWTREE_RETURN_IF_ERROR(file->WriteAt(address.offset_bytes, bytes));
  c.dirty.store(true);
  StartWritebackIfDue(c, *file, address.offset_bytes, bytes.size());
  return Status::OK();
}

void SegmentAllocator::StartWritebackIfDue(ClassState& c, File& file, uint64_t offset_bytes,
                                           size_t length_bytes) {
  const uint64_t interval = options_.writeback_interval_bytes;
  if (interval == 0 || length_bytes == 0) return;
  const uint64_t first_page = offset_bytes / kWritebackPageBytes;
  const uint64_t last_page = (offset_bytes + length_bytes - 1) / kWritebackPageBytes;
  const uint64_t dirtied = (last_page - first_page + 1) * kWritebackPageBytes;
  const uint64_t pending = c.writeback_pending_bytes.fetch_add(dirtied) + dirtied;
  if (pending < interval) return;
  // Concurrent writers may both pass the interval: only the one that takes the count hints.
  if (c.writeback_pending_bytes.exchange(0) < interval) return;
  (void)file.StartWriteback(0, 0);  // a hint: SyncDirty's fdatasync reports a failed write-back
  writebacks_started_.fetch_add(1, std::memory_order_relaxed);
}

Status SegmentAllocator::SyncDirty() {
  std::lock_guard<std::mutex> lock(sync_mu_);
  if (!sync_error_.ok()) return sync_error_;
  for (const auto& c : classes_) {
    if (!c->dirty.exchange(false)) continue;
    c->writeback_pending_bytes.store(0);  // the fdatasync below writes every dirty page
    File* file = c->file_ptr.load(std::memory_order_acquire);
    COWTREE_ASSERT(file != nullptr);
    if (Status st = file->Sync(); !st.ok()) {
      // Never retried: the kernel may have dropped the dirty pages, so a later fdatasync that
      // succeeds would prove nothing. Every later call returns this error.
      sync_error_ = st.WithContext("fdatasync of data file " + c->path);
      return sync_error_;
    }
  }
  return Status::OK();
}

Result<PinnedObject> SegmentAllocator::PinObject(const ObjectAddress& address,
                                                 bool via_mmap) const {
  COWTREE_RETURN_IF_ERROR(ValidateObjectAddress(address));
  const ClassState& c = *classes_[SizeClassIndex(address.size_class_bytes)];
  COWTREE_RETURN_IF_ERROR(CheckInFile(address, c));
  PinnedObject out;
  if (options_.read_via_mmap && via_mmap) {
    COWTREE_ASSIGN_OR_RETURN(
        out.pin_, windows_->PinRange(c.window_file_id, c.size_bytes.load(std::memory_order_acquire),
                                     address.offset_bytes, address.length_bytes));
    return out;
  }
  COWTREE_RETURN_IF_ERROR(ReadFromFile(address, c, &out.copy_).status());
  return out;
}

Result<std::string_view> SegmentAllocator::ReadInto(const ObjectAddress& address,
                                                    std::string* buffer) const {
  COWTREE_RETURN_IF_ERROR(ValidateObjectAddress(address));
  const ClassState& c = *classes_[SizeClassIndex(address.size_class_bytes)];
  COWTREE_RETURN_IF_ERROR(CheckInFile(address, c));
  return ReadFromFile(address, c, buffer);
}

Result<std::string_view> SegmentAllocator::ReadFromFile(const ObjectAddress& address,
                                                        const ClassState& c,
                                                        std::string* buffer) const {
  if (buffer->size() < address.length_bytes) buffer->resize(address.length_bytes);
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR(
      c.file_ptr.load(std::memory_order_acquire)
          ->ReadAt(address.offset_bytes, address.length_bytes, buffer->data(), &got));
  if (got != address.length_bytes) {
    return Status::Corruption("short read of " + DescribeAddress(address) + ": got " +
                              std::to_string(got) + " bytes");
  }
  return std::string_view(buffer->data(), address.length_bytes);
}

Status SegmentAllocator::Read(const ObjectAddress& address, std::string* out) const {
  COWTREE_ASSIGN_OR_RETURN(PinnedObject pinned, PinObject(address));
  out->assign(pinned.bytes());
  return Status::OK();
}

std::vector<std::string> SegmentAllocator::created_files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_files_;
}

std::vector<DataFileInfo> SegmentAllocator::data_files() const {
  std::vector<DataFileInfo> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : classes_) {
    if (c->file != nullptr) out.push_back({c->class_bytes, c->size_bytes.load()});
  }
  return out;
}

SegmentAllocatorStats SegmentAllocator::stats() const {
  SegmentAllocatorStats out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : classes_) {
      if (c->file == nullptr) continue;
      const uint64_t slots = c->segments * c->slots_per_segment;
      out.classes.push_back({c->class_bytes, c->name, c->size_bytes.load(), c->segment_bytes,
                             c->segments, c->used_slots, slots - c->used_slots});
    }
  }
  out.windows = windows_->stats();
  out.writebacks_started = writebacks_started_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace cowtree
