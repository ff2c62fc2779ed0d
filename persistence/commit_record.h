// The commit (redo) record: the payload of a kCommit log frame. One commit = one record, so a
// commit that creates trees and adds to many trees is atomic at replay.
// Format: docs/commit_record.md. All integers little-endian.
//
//   header  (16 bytes): magic u32 'CWCR' | format_version u16 = 1 | reserved u16 = 0 |
//                       create_count u32 | drop_count u32
//   creates: tree_id u64 | type_id u8 | reserved u8 = 0 | name_length u16 | params_length u32 |
//            name bytes | params bytes
//   drops:   tree_id u64
//   then:    op_section_count u32 | reserved u32 = 0
//   sections: tree_id u64 | ops_length u32 | reserved u32 = 0 | ops bytes (tree-type defined)
// The log frame carries the CRC32C; this decoder still validates every length and reserved
// byte and returns Corruption naming the byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/hosted_tree.h"
#include "persistence/status.h"

namespace cowtree {

inline constexpr uint32_t kCommitRecordMagic = 0x52435743;  // "CWCR" little-endian
inline constexpr uint16_t kCommitRecordVersion = 1;
inline constexpr size_t kCommitRecordHeaderBytes = 16;
inline constexpr size_t kTreeNameBytesMax = 1024;
inline constexpr size_t kTreeParamsBytesMax = 4096;

struct CommitCreate {
  TreeId tree_id = 0;
  uint8_t type_id = 0;
  std::string name;
  std::string params;
};

struct CommitOps {
  TreeId tree_id = 0;
  std::string_view ops;  // view into the record (decode) or the batch (encode)
};

struct CommitRecordView {
  std::vector<CommitCreate> creates;
  std::vector<TreeId> drops;
  std::vector<CommitOps> ops;
};

// Checks every limit the encoder and the log impose, so that a caller's batch is refused with
// InvalidArgument (naming the limit and the offending tree) before anything changes: tree ids
// and type ids non-zero, names of 1..kTreeNameBytesMax bytes, params of at most
// kTreeParamsBytesMax bytes, each op section at most 4 GiB - 1, and the whole encoded record at
// most kLogRecordPayloadMax bytes (one log frame).
Status ValidateCommitRecord(const CommitRecordView& record);
// Encoded size in bytes, without encoding.
uint64_t CommitRecordEncodedBytes(const CommitRecordView& record);

// Asserts ValidateCommitRecord's conditions (callers validate first: an assertion here is our bug).
void EncodeCommitRecord(const CommitRecordView& record, std::string* out);
// `payload` must outlive the returned views.
Result<CommitRecordView> DecodeCommitRecord(std::string_view payload);

// Commit epochs in the log are consecutive: Runtime::Commit takes epoch E + 1 after E only for
// a record it appends, and the first commit after a checkpoint at C is C + 1. Recovery and
// fsck check it. The message for a commit of `epoch` that follows `previous` (the commit before
// it, or C) when epoch != previous + 1.
std::string CommitEpochGapMessage(uint64_t previous, uint64_t epoch);

}  // namespace cowtree
