// The File and MappedRegion of FaultInjectionEnv: every call passes Core::Admit, then acts on
// the MemInode under the Env's mutex.
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "testutil/fault_injection_core.h"

namespace cowtree::testutil {
namespace {

class FaultInjectionMappedRegion final : public MappedRegion {
 public:
  explicit FaultInjectionMappedRegion(std::shared_ptr<MapBuffer> buffer)
      : buffer_(std::move(buffer)) {}
  // Dropping the buffer unmaps: the inode holds only a weak reference.
  const char* data() const override { return buffer_->bytes.data(); }
  size_t size() const override { return buffer_->bytes.size(); }

 private:
  std::shared_ptr<MapBuffer> buffer_;
};

class FaultInjectionFile final : public File {
 public:
  FaultInjectionFile(std::shared_ptr<FaultInjectionEnv::Core> core, std::shared_ptr<MemInode> inode,
                     std::string path, bool writable, uint64_t crash_epoch)
      : core_(std::move(core)),
        inode_(std::move(inode)),
        path_(std::move(path)),
        writable_(writable),
        crash_epoch_(crash_epoch) {}

  Status ReadAt(uint64_t offset_bytes, size_t length_bytes, char* out,
                size_t* read_bytes) override {
    *read_bytes = 0;
    std::lock_guard<std::mutex> lock(core_->mu);
    COWTREE_RETURN_IF_ERROR(Admit(OpKind::kRead, offset_bytes, length_bytes));
    *read_bytes = inode_->Read(offset_bytes, length_bytes, out);
    return Status::OK();
  }

  Status WriteAt(uint64_t offset_bytes, std::string_view data) override {
    return WriteAs(OpKind::kWrite, offset_bytes, data);
  }

  // Recorded as its own op kind (tests tell the log's best-effort zero fill from data writes);
  // otherwise exactly a WriteAt of zeros.
  Status WriteZeros(uint64_t offset_bytes, uint64_t length_bytes) override {
    return WriteAs(OpKind::kWriteZeros, offset_bytes,
                   std::string(static_cast<size_t>(length_bytes), '\0'));
  }

  Status Sync() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    bool drop_unsynced = false;
    Status s = core_->Admit(Describe(OpKind::kSync, 0, 0), &crash_epoch_, &drop_unsynced);
    if (drop_unsynced) inode_->DropUnsynced();
    if (!s.ok()) return s;
    inode_->Sync();
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    COWTREE_RETURN_IF_ERROR(Admit(OpKind::kSize, 0, 0));
    return inode_->size_bytes();
  }

  Status Truncate(uint64_t size_bytes) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    const OpInfo op = Describe(OpKind::kTruncate, size_bytes, 0);
    COWTREE_RETURN_IF_ERROR(core_->Admit(op, &crash_epoch_));
    COWTREE_RETURN_IF_ERROR(CheckWritable("ftruncate"));
    COWTREE_RETURN_IF_ERROR(core_->CheckSpace(op, inode_->GrowthToSize(size_bytes)));
    inode_->SetSize(size_bytes);
    return Status::OK();
  }

  Status Allocate(uint64_t offset_bytes, uint64_t length_bytes, bool keep_size) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    const OpInfo op = Describe(OpKind::kAllocate, offset_bytes, length_bytes);
    COWTREE_RETURN_IF_ERROR(core_->Admit(op, &crash_epoch_));
    COWTREE_RETURN_IF_ERROR(CheckWritable("fallocate"));
    if (length_bytes == 0) return Status::FromErrno("fallocate " + path_, EINVAL);
    const uint64_t end = offset_bytes + length_bytes;
    COWTREE_RETURN_IF_ERROR(core_->CheckSpace(op, inode_->GrowthToReserve(end)));
    if (keep_size) {
      inode_->Reserve(end);
    } else {
      inode_->GrowTo(end);
    }
    return Status::OK();
  }

  Status PunchHole(uint64_t offset_bytes, uint64_t length_bytes) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    COWTREE_RETURN_IF_ERROR(Admit(OpKind::kPunchHole, offset_bytes, length_bytes));
    COWTREE_RETURN_IF_ERROR(CheckWritable("punch hole"));
    inode_->ZeroRange(offset_bytes, length_bytes);
    return Status::OK();
  }

  Result<std::unique_ptr<MappedRegion>> Map(uint64_t offset_bytes, size_t length_bytes) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    COWTREE_RETURN_IF_ERROR(Admit(OpKind::kMap, offset_bytes, length_bytes));
    if (length_bytes == 0) return Status::FromErrno("mmap " + path_, EINVAL);
    return std::unique_ptr<MappedRegion>(
        new FaultInjectionMappedRegion(inode_->AddMapping(offset_bytes, length_bytes)));
  }

  const std::string& path() const override { return path_; }

 private:
  // WriteAt's body, admitted and recorded as `kind`.
  Status WriteAs(OpKind kind, uint64_t offset_bytes, std::string_view data) {
    std::lock_guard<std::mutex> lock(core_->mu);
    const OpInfo op = Describe(kind, offset_bytes, data.size());
    COWTREE_RETURN_IF_ERROR(core_->Admit(op, &crash_epoch_));
    COWTREE_RETURN_IF_ERROR(CheckWritable("pwrite"));
    if (!data.empty()) {
      COWTREE_RETURN_IF_ERROR(
          core_->CheckSpace(op, inode_->GrowthToSize(offset_bytes + data.size())));
    }
    inode_->Write(offset_bytes, data);
    return Status::OK();
  }

  OpInfo Describe(OpKind kind, uint64_t offset_bytes, uint64_t length_bytes) const {
    return OpInfo{kind, path_, offset_bytes, length_bytes};
  }
  Status Admit(OpKind kind, uint64_t offset_bytes, uint64_t length_bytes) {
    return core_->Admit(Describe(kind, offset_bytes, length_bytes), &crash_epoch_);
  }
  Status CheckWritable(const char* what) const {
    if (writable_) return Status::OK();
    return Status::FromErrno(std::string(what) + " " + path_ + " (opened read-only)", EBADF);
  }

  const std::shared_ptr<FaultInjectionEnv::Core> core_;
  const std::shared_ptr<MemInode> inode_;
  const std::string path_;
  const bool writable_;
  const uint64_t crash_epoch_;
};

}  // namespace

std::unique_ptr<File> NewFaultInjectionFile(std::shared_ptr<FaultInjectionEnv::Core> core,
                                            std::shared_ptr<MemInode> inode, std::string path,
                                            bool writable, uint64_t crash_epoch) {
  return std::make_unique<FaultInjectionFile>(std::move(core), std::move(inode), std::move(path),
                                              writable, crash_epoch);
}

}  // namespace cowtree::testutil
