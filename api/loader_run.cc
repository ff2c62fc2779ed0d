// RunWriter and RunReader (api/loader_run.h; format: docs/loader_run.md).
#include "api/loader_run.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/commit_record.h"
#include "persistence/crc32c.h"
#include "tree/leaf_varint.h"

namespace cowtree::api_internal {

namespace {

constexpr size_t kCrcOffset = 4;
constexpr size_t kCrcFrom = 8;  // the checksum covers the header from here, and the payload
constexpr size_t kPayloadBytesOffset = 8;
constexpr size_t kOpCountOffset = 12;
constexpr size_t kTreeIdOffset = 16;
constexpr size_t kKeyTypeOffset = 24;
constexpr size_t kReservedOffset = 25;
constexpr size_t kNameBytesOffset = 28;
constexpr size_t kLoaderNonceOffset = 32;
constexpr size_t kRunNumberOffset = 40;
constexpr size_t kBlockIndexOffset = 44;
static_assert(kBlockIndexOffset + 4 == kRunBlockHeaderBytes);
constexpr size_t kMinBlockBytes = 256;

}  // namespace

RunWriter::RunWriter(std::unique_ptr<File> file, std::string path, RunIdentity identity,
                     size_t block_bytes)
    : file_(std::move(file)),
      path_(std::move(path)),
      identity_(identity),
      block_bytes_(block_bytes) {}

Result<std::unique_ptr<RunWriter>> RunWriter::Create(Env* env, const std::string& path,
                                                     RunIdentity identity, size_t block_bytes) {
  COWTREE_ASSERT(block_bytes >= kMinBlockBytes);
  auto file = env->OpenFile(path, OpenMode::kCreateExclusive);
  if (!file.ok()) {
    // ENOENT here means the spill directory itself is gone: an I/O failure of the load.
    const Status st = file.status().IsNotFound()
                          ? Status::IOError(file.status().message() + " (spill directory gone?)")
                          : file.status();
    return st.WithContext("creating loader run " + path);
  }
  return std::unique_ptr<RunWriter>(
      new RunWriter(std::move(file).value(), path, identity, block_bytes));
}

Status RunWriter::Add(const LoaderTree& tree, uint64_t key_code, int64_t weight) {
  COWTREE_ASSERT(weight != 0 && tree.tree_id != 0);
  COWTREE_ASSERT(!tree.name.empty() && tree.name.size() <= kTreeNameBytesMax);
  COWTREE_ASSERT(tree.tree_id > last_tree_id_ ||
                 (tree.tree_id == last_tree_id_ && ops_ > 0 && key_code >= last_key_) || ops_ == 0);
  const bool same_block = block_ops_ > 0 && tree.tree_id == block_tree_id_;
  if (block_ops_ > 0 &&
      (!same_block || block_.size() - kRunBlockHeaderBytes - block_name_bytes_ >= block_bytes_)) {
    COWTREE_RETURN_IF_ERROR(CloseBlock());
  }
  uint64_t gap = key_code;
  if (block_ops_ == 0) {
    block_.assign(kRunBlockHeaderBytes, '\0');
    block_.append(tree.name);
    block_tree_id_ = tree.tree_id;
    block_type_ = tree.type;
    block_name_bytes_ = static_cast<uint32_t>(tree.name.size());
  } else {
    COWTREE_ASSERT(key_code >= last_key_);
    gap = key_code - last_key_;
  }
  char buf[kRunOpBytesMax];
  char* p = tree::EncodeVarint64(buf, gap);
  p = tree::EncodeVarint64(p, tree::ZigZag(weight));
  block_.append(buf, static_cast<size_t>(p - buf));
  ++block_ops_;
  ++ops_;
  last_tree_id_ = tree.tree_id;
  last_key_ = key_code;
  return Status::OK();
}

Status RunWriter::CloseBlock() {
  COWTREE_ASSERT(block_ops_ > 0 && block_.size() > kRunBlockHeaderBytes + block_name_bytes_);
  char* h = block_.data();
  EncodeFixed32(h, kRunBlockMagic);
  EncodeFixed32(h + kPayloadBytesOffset,
                static_cast<uint32_t>(block_.size() - kRunBlockHeaderBytes));
  EncodeFixed32(h + kOpCountOffset, block_ops_);
  EncodeFixed64(h + kTreeIdOffset, block_tree_id_);
  h[kKeyTypeOffset] = static_cast<char>(block_type_);
  std::fill(h + kReservedOffset, h + kNameBytesOffset, '\0');
  EncodeFixed32(h + kNameBytesOffset, block_name_bytes_);
  EncodeFixed64(h + kLoaderNonceOffset, identity_.loader_nonce);
  EncodeFixed32(h + kRunNumberOffset, identity_.run_number);
  EncodeFixed32(h + kBlockIndexOffset, block_index_);
  EncodeFixed32(h + kCrcOffset, Crc32c(h + kCrcFrom, block_.size() - kCrcFrom));
  const Status st = file_->WriteAt(offset_, block_);
  if (!st.ok()) return st.WithContext("writing loader run " + path_);
  offset_ += block_.size();
  ++block_index_;
  block_ops_ = 0;
  block_.clear();
  return Status::OK();
}

Status RunWriter::Finish() {
  if (block_ops_ > 0) COWTREE_RETURN_IF_ERROR(CloseBlock());
  std::string().swap(block_);
  return Status::OK();
}

RunReader::RunReader(std::unique_ptr<File> file, std::string path, RunIdentity identity,
                     uint64_t ops, uint64_t bytes, size_t block_bytes)
    : file_(std::move(file)),
      path_(std::move(path)),
      identity_(identity),
      expected_ops_(ops),
      expected_bytes_(bytes),
      payload_bytes_max_(kTreeNameBytesMax + block_bytes + kRunOpBytesMax) {}

Result<std::unique_ptr<RunReader>> RunReader::Open(Env* env, const std::string& path,
                                                   RunIdentity identity, uint64_t ops,
                                                   uint64_t bytes, size_t block_bytes) {
  COWTREE_ASSERT(block_bytes >= kMinBlockBytes);
  auto file = env->OpenFile(path, OpenMode::kReadOnly);
  if (!file.ok()) {
    if (file.status().IsNotFound()) {
      return Status::Corruption(
          "loader run " + path +
          " is missing (deleted by another process?): " + file.status().message());
    }
    return file.status().WithContext("opening loader run " + path);
  }
  return std::unique_ptr<RunReader>(
      new RunReader(std::move(file).value(), path, identity, ops, bytes, block_bytes));
}

Status RunReader::Corrupt(uint64_t offset, const std::string& what) const {
  return Status::Corruption("loader run " + path_ + " at offset " + std::to_string(offset) + ": " +
                            what);
}

Status RunReader::Next(bool* has) {
  if (block_left_ == 0) {
    if (next_offset_ == expected_bytes_) {
      if (ops_read_ != expected_ops_) {
        return Corrupt(next_offset_, "the run ends after " + std::to_string(ops_read_) +
                                         " ops, expected " + std::to_string(expected_ops_));
      }
      *has = false;
      return Status::OK();
    }
    COWTREE_RETURN_IF_ERROR(ReadBlock());
  }
  uint64_t gap = 0;
  uint64_t zigzag = 0;
  const auto parse = [this](uint64_t* v) {
    return tree::ParseShortVarint64(block_.data(), block_.size(), &pos_, v) ||
           tree::ParseVarint64(block_.data(), block_.size(), &pos_, v) == tree::VarintParse::kOk;
  };
  if (!parse(&gap) || !parse(&zigzag)) {
    return Corrupt(block_offset_, "an op of the block is not two well-formed varints");
  }
  if (block_first_) {
    block_first_ = false;
    if (started_ && tree_.tree_id == previous_tree_id_ && gap < key_) {
      return Corrupt(block_offset_,
                     "the block's first key is below the previous block's last "
                     "key of the same tree");
    }
    key_ = gap;
  } else {
    if (gap > UINT64_MAX - key_) return Corrupt(block_offset_, "a key gap past 2^64");
    key_ += gap;
  }
  started_ = true;
  weight_ = tree::UnZigZag(zigzag);
  if (weight_ == 0) return Corrupt(block_offset_, "an op of weight 0");
  --block_left_;
  ++ops_read_;
  if (block_left_ == 0 && pos_ != block_.size()) {
    return Corrupt(block_offset_, "the block holds bytes after its last op");
  }
  *has = true;
  return Status::OK();
}

// Reads the block at next_offset_ into block_ (its payload), checks its header and checksum,
// and takes its tree.
Status RunReader::ReadBlock() {
  block_offset_ = next_offset_;
  if (expected_bytes_ - next_offset_ < kRunBlockHeaderBytes) {
    return Corrupt(block_offset_, "the run's last " +
                                      std::to_string(expected_bytes_ - next_offset_) +
                                      " bytes are too few for a block header of " +
                                      std::to_string(kRunBlockHeaderBytes));
  }
  char h[kRunBlockHeaderBytes];
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR(
      file_->ReadAt(block_offset_, sizeof(h), h, &got).WithContext("reading loader run " + path_));
  if (got != sizeof(h)) return Corrupt(block_offset_, "the file ends inside a block header");
  if (DecodeFixed32(h) != kRunBlockMagic) return Corrupt(block_offset_, "no block magic");
  const uint32_t payload_bytes = DecodeFixed32(h + kPayloadBytesOffset);
  const uint32_t op_count = DecodeFixed32(h + kOpCountOffset);
  const uint64_t tree_id = DecodeFixed64(h + kTreeIdOffset);
  const auto type = static_cast<uint8_t>(h[kKeyTypeOffset]);
  const uint32_t name_bytes = DecodeFixed32(h + kNameBytesOffset);
  if (payload_bytes > payload_bytes_max_ ||
      payload_bytes > expected_bytes_ - block_offset_ - kRunBlockHeaderBytes) {
    return Corrupt(block_offset_, "payload of " + std::to_string(payload_bytes) +
                                      " bytes, over the block's limit or the run's end");
  }
  block_.resize(payload_bytes);
  COWTREE_RETURN_IF_ERROR(
      file_->ReadAt(block_offset_ + kRunBlockHeaderBytes, payload_bytes, block_.data(), &got)
          .WithContext("reading loader run " + path_));
  if (got != payload_bytes) return Corrupt(block_offset_, "the file ends inside a block");
  uint32_t crc = Crc32c(h + kCrcFrom, kRunBlockHeaderBytes - kCrcFrom);
  crc = Crc32cExtend(crc, block_.data(), block_.size());
  if (crc != DecodeFixed32(h + kCrcOffset)) {
    return Corrupt(block_offset_, "checksum mismatch");
  }
  if (h[kReservedOffset] != 0 || h[kReservedOffset + 1] != 0 || h[kReservedOffset + 2] != 0) {
    return Corrupt(block_offset_, "reserved bytes are not zero");
  }
  if (op_count == 0 || tree_id == 0 || (type != 1 && type != 2) || name_bytes == 0 ||
      name_bytes > kTreeNameBytesMax || name_bytes >= payload_bytes) {
    return Corrupt(block_offset_,
                   "expected >= 1 op, a tree id >= 1, key type 1 or 2 and a name "
                   "of 1.." +
                       std::to_string(kTreeNameBytesMax) + " bytes before the ops");
  }
  if (DecodeFixed64(h + kLoaderNonceOffset) != identity_.loader_nonce ||
      DecodeFixed32(h + kRunNumberOffset) != identity_.run_number) {
    return Corrupt(block_offset_,
                   "the block is of run " + std::to_string(DecodeFixed32(h + kRunNumberOffset)) +
                       " of loader " + std::to_string(DecodeFixed64(h + kLoaderNonceOffset)) +
                       ", expected run " + std::to_string(identity_.run_number) + " of loader " +
                       std::to_string(identity_.loader_nonce) + " (a run file replaced?)");
  }
  if (DecodeFixed32(h + kBlockIndexOffset) != next_block_index_) {
    return Corrupt(block_offset_, "block index " +
                                      std::to_string(DecodeFixed32(h + kBlockIndexOffset)) +
                                      ", expected " + std::to_string(next_block_index_));
  }
  if (op_count > expected_ops_ - ops_read_) {
    return Corrupt(block_offset_, "op_count " + std::to_string(op_count) + ", but only " +
                                      std::to_string(expected_ops_ - ops_read_) +
                                      " of the run's ops are left");
  }
  if (started_ && tree_id < tree_.tree_id) {
    return Corrupt(block_offset_, "tree id " + std::to_string(tree_id) + " after tree id " +
                                      std::to_string(tree_.tree_id) + " (ids must ascend)");
  }
  const std::string_view name(block_.data(), name_bytes);
  if (started_ && tree_id == tree_.tree_id &&
      (static_cast<uint8_t>(tree_.type) != type || tree_.name != name)) {
    return Corrupt(block_offset_, "tree id " + std::to_string(tree_id) +
                                      " with another name or key type than the block before");
  }
  previous_tree_id_ = tree_.tree_id;
  tree_.tree_id = tree_id;
  tree_.type = static_cast<KeyType>(type);
  if (tree_.name != name) tree_.name.assign(name);
  pos_ = name_bytes;
  block_left_ = op_count;
  block_first_ = true;
  ++next_block_index_;
  next_offset_ = block_offset_ + kRunBlockHeaderBytes + payload_bytes;
  return Status::OK();
}

}  // namespace cowtree::api_internal
