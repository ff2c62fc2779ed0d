// Seed inputs of the fuzz targets (seeds.h). Flags bytes: see each target's file.
#include "tests/fuzz/seeds.h"

#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <tuple>

#include "api/loader_run.h"
#include "persistence/assert.h"
#include "persistence/catalog_format.h"
#include "persistence/commit_record.h"
#include "persistence/file_names.h"
#include "persistence/log_format.h"
#include "persistence/manifest.h"
#include "persistence/object_format.h"
#include "persistence/object_table.h"
#include "persistence/ot_checkpoint.h"
#include "persistence/ot_delta.h"
#include "persistence/ot_entry.h"
#include "persistence/superblock.h"
#include "tests/fuzz/fuzz_targets.h"
#include "testutil/fault_injection_env.h"
#include "tree/index_format.h"
#include "tree/key_codec.h"
#include "tree/node_format.h"
#include "tree/summary_format.h"

namespace cowtree::fuzz {
namespace {

std::string Flags(uint8_t flags, std::string_view bytes) {
  std::string out(1, static_cast<char>(flags));
  out.append(bytes);
  return out;
}

OtEntry Entry(uint32_t size_class, uint64_t slot, uint32_t length, ObjectKind kind, uint64_t birth,
              uint64_t retire = kNotRetired) {
  OtEntry e;
  e.address = ObjectAddress{size_class, slot * size_class, length};
  e.kind = kind;
  e.birth_epoch = birth;
  e.retire_epoch = retire;
  e.payload_crc32c = 0x12345678u + static_cast<uint32_t>(slot);
  return e;
}

std::string CommitPayload() {
  CommitRecordView r;
  r.creates.push_back({7, 1, "latency", "{\"key\":\"int64\"}"});
  r.drops.push_back(3);
  const std::string ops = "\x01\x02\x03\x04";
  r.ops.push_back({7, ops});
  std::string out;
  EncodeCommitRecord(r, &out);
  return out;
}

std::string OtDeltaPayload() {
  std::vector<OtDeltaOp> ops(3);
  ops[0].type = OtDeltaOp::kUpsert;
  ops[0].id = NodeID::Make(1, 1);
  ops[0].entry = Entry(4096, 0, 100, ObjectKind::kLeaf, 5);
  ops[1].type = OtDeltaOp::kUpsert;
  ops[1].id = NodeID::Make(2, 3);
  ops[1].entry = Entry(8192, 2, 8000, ObjectKind::kSummaryChunk, 6, 9);
  ops[2].type = OtDeltaOp::kRetire;
  ops[2].id = NodeID::Make(1, 1);
  ops[2].retire_epoch = 9;
  return EncodeOtDelta(ops);
}

// ---- per target ----

std::vector<FuzzSeed> SuperblockSeeds() {
  SuperblockData a;
  a.generation = 1;
  a.checkpoint_epoch = 0;
  a.log_replay_file_number = 1;
  a.store_id = ExampleStoreId();
  SuperblockData b;
  b.generation = 2;
  b.checkpoint_epoch = 42;
  b.manifest_generation = 2;
  b.ot_checkpoint_id = 3;
  b.log_replay_file_number = 4;
  b.log_replay_offset_bytes = 4096;
  b.catalog_root = NodeID::Make(9, 2).raw();
  b.ot_handle_count = 10;
  b.store_id = ExampleStoreId();
  const std::string copy_a = EncodeSuperblock(a);  // belongs in copies 2 and 3
  const std::string copy_b = EncodeSuperblock(b);  // belongs in copies 0 and 1
  const std::string zeros(kSuperblockCopySize, '\0');
  return {
      {"seed-all-copies", Flags(0x0f, copy_b + copy_b + copy_a + copy_a)},
      {"seed-odd-pair-only", Flags(0x0f, zeros + zeros + copy_a + copy_a)},
      {"seed-one-twin-each", Flags(0x0f, copy_b + zeros + zeros + copy_a)},
      {"seed-even-pair-only", Flags(0x03, copy_b + copy_b)},
      {"seed-raw-all", Flags(0x00, copy_b + copy_b + copy_a + copy_a)},
  };
}

// Frames laid out as a writer would: each records as synced the end of the frame before the
// previous one (a writer whose fdatasync lags by one frame).
struct LogBuilder {
  explicit LogBuilder(uint64_t file_number, bool with_header = true) {
    if (with_header) bytes = EncodeLogFileHeader(file_number, ExampleStoreId());
    offset = kLogFileHeaderSize;
  }
  LogBuilder& Add(LogRecordType type, uint64_t epoch, std::string_view payload) {
    EncodeFrame(type, epoch, synced, payload, &bytes);
    synced = offset;
    offset += FrameSizeBytes(payload.size());
    return *this;
  }
  std::string bytes;
  uint64_t offset = 0;
  uint64_t synced = 0;
};

std::string Frame(LogRecordType type, uint64_t epoch, uint64_t synced, std::string_view payload) {
  std::string out;
  EncodeFrame(type, epoch, synced, payload, &out);
  return out;
}

std::vector<FuzzSeed> LogFrameSeeds() {
  // Flags bits 5-7: the frame offset passed to DecodeFrame (0: 0, 1: 32, 6: the frame's synced
  // offset, i.e. where it was written at the earliest).
  return {
      {"seed-commit", Flags(0x00, Frame(LogRecordType::kCommit, 7, 0, CommitPayload()))},
      {"seed-ot-delta", Flags(0xc1, Frame(LogRecordType::kOtDelta, 9, 4096, OtDeltaPayload()))},
      {"seed-empty-payload", Flags(0x23, Frame(LogRecordType::kCheckpointEnd, 9, 32, ""))},
      {"seed-two-frames", Flags(0x01, Frame(LogRecordType::kCheckpointBegin, 9, 0, "x") +
                                          Frame(LogRecordType::kCatalog, 10, 0, "tree"))},
      {"seed-synced-ahead", Flags(0x20, Frame(LogRecordType::kCommit, 1, 33, "abc"))},
      {"seed-garbage-then-frame", Flags(0x00, std::string("\x05\x00\x00\x00\x09zz", 7) +
                                                  Frame(LogRecordType::kCommit, 1, 0, "abc"))},
      {"seed-file", Flags(0x1c, LogBuilder(3)
                                    .Add(LogRecordType::kCommit, 1, "abc")
                                    .Add(LogRecordType::kCommit, 2, CommitPayload())
                                    .Add(LogRecordType::kCheckpointBegin, 2, "")
                                    .bytes)},
  };
}

std::vector<FuzzSeed> LogReplaySeeds() {
  // Flags: see log_replay_fuzz.cc.
  const std::string sep = "CWTSPLIT";
  auto first = [](LogBuilder b) {
    return b.Add(LogRecordType::kCommit, 1, CommitPayload())
        .Add(LogRecordType::kCheckpointBegin, 1, "")
        .Add(LogRecordType::kOtDelta, 1, OtDeltaPayload())
        .Add(LogRecordType::kCheckpointEnd, 1, "")
        .bytes;
  };
  auto second = [](LogBuilder b) {
    return b.Add(LogRecordType::kCommit, 2, "two").Add(LogRecordType::kCatalog, 3, "three").bytes;
  };
  const std::string f1 = first(LogBuilder(1)), f2 = second(LogBuilder(2));
  std::string torn = f1;
  torn.resize(torn.size() - 5);
  std::string rot = f1;  // bit rot in the first frame; later frames prove it was durable
  rot[kLogFileHeaderSize + 3] ^= 0x40;
  // A lost frame in the unsynced tail: the OT-delta frame is zeros; the frame after it records
  // as synced only the offset where the lost frame starts, which does not prove it durable.
  std::string hole = f1;
  const size_t lost =
      kLogFileHeaderSize + FrameSizeBytes(CommitPayload().size()) + FrameSizeBytes(0);
  std::fill(hole.begin() + lost, hole.begin() + lost + FrameSizeBytes(OtDeltaPayload().size()),
            '\0');
  return {
      {"seed-one-file", Flags(0x00, f1)},
      {"seed-two-files", Flags(0x00, f1 + sep + f2)},
      {"seed-two-files-from-2", Flags(0x08, f1 + sep + f2)},
      {"seed-torn-tail", Flags(0x00, torn)},
      {"seed-zero-tail", Flags(0x00, second(LogBuilder(1)) + std::string(40, '\0'))},
      {"seed-bit-rot", Flags(0x00, rot)},
      {"seed-hole", Flags(0x00, hole)},
      {"seed-torn-creation", Flags(0x00, second(LogBuilder(1)) + sep + std::string(10, '\0'))},
      {"seed-headers-added",
       Flags(0x83, first(LogBuilder(1, false)) + sep + second(LogBuilder(2, false)) + sep + sep +
                       second(LogBuilder(4, false)))},
      {"seed-start-offset", Flags(0x20, second(LogBuilder(1)) + sep + first(LogBuilder(2)))},
      {"seed-callback-stop", Flags(0x40, f1 + sep + f2)},
  };
}

std::vector<FuzzSeed> ManifestSeeds() {
  Manifest empty;
  empty.generation = 1;
  empty.store_id = ExampleStoreId();
  Manifest full;
  full.generation = 1;
  full.store_id = ExampleStoreId();
  full.data_files.push_back({DataFileName(4096), 4096, 1 << 20});
  full.data_files.push_back({DataFileName(65536), 65536, 0});
  full.ot_checkpoints.push_back({OtCheckpointFileName(3), 3, 17});
  full.log_files.push_back({LogFileName(2), 2, 10, 17});
  full.log_files.push_back({LogFileName(3), 3, 0, 0});
  Manifest other = full;
  other.generation = 12;
  return {
      {"seed-empty", Flags(0x03, EncodeManifest(empty))},
      {"seed-full", Flags(0x03, EncodeManifest(full))},
      {"seed-generation-12", Flags(0x01, EncodeManifest(other))},
      {"seed-raw", Flags(0x00, EncodeManifest(full))},
  };
}

std::string OtCheckpointFile(const std::vector<OtEntry>& entries, uint64_t epoch) {
  testutil::FaultInjectionEnv env;
  COWTREE_ASSERT(env.CreateDir("/db").ok());
  ObjectTable table;
  for (const OtEntry& entry : entries) {
    Result<NodeID> id = table.AllocateId();
    COWTREE_ASSERT(id.ok());
    table.Set(*id, entry);
  }
  COWTREE_ASSERT(WriteOtCheckpoint(&env, "/db", 1, epoch, table, ExampleStoreId()).ok());
  std::string bytes;
  COWTREE_ASSERT(env.ReadFileToString(JoinPath("/db", OtCheckpointFileName(1)), &bytes).ok());
  return bytes;
}

std::vector<FuzzSeed> OtCheckpointSeeds() {
  const std::vector<OtEntry> three = {
      Entry(4096, 0, 4000, ObjectKind::kLeaf, 1),
      Entry(4096, 1, 120, ObjectKind::kTreeDescriptor, 2, 9),
      Entry(262144, 3, 262144, ObjectKind::kCatalogRoot, 3),
  };
  return {
      {"seed-empty", Flags(0x03, OtCheckpointFile({}, 0))},
      {"seed-three", Flags(0x03, OtCheckpointFile(three, 5))},
      {"seed-three-raw", Flags(0x00, OtCheckpointFile(three, 5))},
  };
}

std::vector<FuzzSeed> OtDeltaSeeds() {
  std::vector<OtDeltaOp> none;
  return {
      {"seed-ops", Flags(0x01, OtDeltaPayload())},
      {"seed-empty", Flags(0x01, EncodeOtDelta(none))},
  };
}

std::vector<FuzzSeed> OtRecordSeeds() {
  char record[kOtRecordBytes];
  EncodeOtRecord(NodeID::Make(77, 5), Entry(16384, 12, 9000, ObjectKind::kSummaryChunk, 3, 8),
                 record);
  char live[kOtRecordBytes];
  EncodeOtRecord(NodeID::Make(1, 1), Entry(4096, 0, 1, ObjectKind::kLeaf, 0), live);
  return {
      {"seed-retired", Flags(0x00, std::string_view(record, kOtRecordBytes))},
      {"seed-live", Flags(0x00, std::string_view(live, kOtRecordBytes))},
  };
}

std::vector<FuzzSeed> ObjectSeeds() {
  auto seed = [](uint8_t flags, NodeID id, ObjectKind kind, uint64_t birth, std::string_view body) {
    std::string stored;
    const uint32_t crc = EncodeObject(id, kind, birth, body, &stored);
    std::string expectation;
    PutFixed64(&expectation, id.raw());
    PutFixed8(&expectation, static_cast<uint8_t>(kind));
    PutFixed64(&expectation, birth);
    PutFixed32(&expectation, static_cast<uint32_t>(stored.size()));
    PutFixed32(&expectation, crc);
    return Flags(flags, expectation + stored);
  };
  tree::LeafData leaf;
  leaf.keys = {tree::EncodeInt64Key(-5), tree::EncodeInt64Key(10)};
  leaf.weights = {3, -1};
  return {
      {"seed-leaf-object", seed(0x00, NodeID::Make(4, 1), ObjectKind::kLeaf, 7,
                                tree::EncodeLeaf(tree::KeyType::kInt64, leaf))},
      {"seed-empty-body", seed(0x07, NodeID::Make(5, 9), ObjectKind::kCatalogRoot, 1, "")},
      {"seed-fixups", seed(0x07, NodeID::Make(6, 255), static_cast<ObjectKind>(200), 99, "hello")},
  };
}

std::vector<FuzzSeed> CommitRecordSeeds() {
  CommitRecordView empty;
  std::string empty_bytes;
  EncodeCommitRecord(empty, &empty_bytes);
  return {
      {"seed-full", Flags(0x00, CommitPayload())},
      {"seed-empty", Flags(0x00, empty_bytes)},
  };
}

std::vector<FuzzSeed> CatalogChunkSeeds() {
  std::vector<CatalogEntry> entries = {
      {1, NodeID::Make(10, 1), 1, 1, "latency", "", ""},
      {4, NodeID::Make(11, 2), 7, 2, "delay/by-origin", std::string("\x00\x01params", 8), ""},
  };
  // Inline trees (descriptor 0): one with bytes, one empty.
  std::vector<CatalogEntry> with_inline = entries;
  with_inline.push_back({9, NodeID(), 8, 1, "small", std::string(8, '\0'), "inline-leaf-bytes"});
  with_inline.push_back({12, NodeID(), 9, 1, "empty", std::string(8, '\0'), ""});
  return {
      {"seed-two", Flags(0x01, EncodeCatalogChunk(entries))},
      {"seed-raw", Flags(0x00, EncodeCatalogChunk({entries[0]}))},
      {"seed-inline", Flags(0x01, EncodeCatalogChunk(with_inline))},
  };
}

std::vector<FuzzSeed> CatalogRootSeeds() {
  CatalogRoot empty;
  CatalogRoot root;
  root.next_tree_id = 2000;
  root.tree_count = 1030;
  root.chunks = {{NodeID::Make(20, 1), 1024, 1}, {NodeID::Make(21, 1), 6, 1500}};
  CatalogRoot paged;
  paged.next_tree_id = 2000;
  paged.tree_count = 1030;
  paged.pages = {{NodeID::Make(30, 1), 1, 1, 1024}, {NodeID::Make(31, 1), 1, 1500, 6}};
  return {
      {"seed-empty", Flags(0x01, EncodeCatalogRoot(empty))},
      {"seed-two-chunks", Flags(0x01, EncodeCatalogRoot(root))},
      {"seed-raw", Flags(0x00, EncodeCatalogRoot(root))},
      {"seed-two-pages", Flags(0x01, EncodeCatalogRoot(paged))},
      {"seed-page", Flags(0x03, EncodeCatalogRootPage(root.chunks))},
  };
}

std::vector<FuzzSeed> LeafSeeds() {
  tree::LeafData ints;
  ints.keys = {tree::EncodeInt64Key(-100), tree::EncodeInt64Key(0), tree::EncodeInt64Key(7)};
  ints.weights = {1, -2, INT64_MAX};
  tree::LeafData doubles;
  doubles.keys = {tree::EncodeDoubleKey(-1.5), tree::EncodeDoubleKey(0.0),
                  tree::EncodeDoubleKey(3.25), tree::EncodeDoubleKey(std::nan(""))};
  doubles.weights = {5, 5, -7, 1};
  tree::LeafData one;
  one.keys = {tree::EncodeInt64Key(42)};
  one.weights = {1};
  tree::LeafData wide;  // multi-byte and 10-byte varints
  wide.keys = {0, 1000, uint64_t{1} << 40, ~uint64_t{0}};
  wide.weights = {INT64_MIN, 300, -70000, INT64_MAX};
  tree::LeafData unit;  // version 3 with the unit weights flag: no weights run
  unit.keys = {tree::EncodeInt64Key(-5), tree::EncodeInt64Key(3), tree::EncodeInt64Key(1 << 20)};
  return {
      {"seed-int64", Flags(0x01, tree::EncodeLeaf(tree::KeyType::kInt64, ints))},
      {"seed-wide", Flags(0x01, tree::EncodeLeaf(tree::KeyType::kInt64, wide))},
      {"seed-v1-int64", Flags(0x01, tree::EncodeLeafV1(tree::KeyType::kInt64, ints))},
      {"seed-v1-double", Flags(0x03, tree::EncodeLeafV1(tree::KeyType::kDouble, doubles))},
      {"seed-double", Flags(0x03, tree::EncodeLeaf(tree::KeyType::kDouble, doubles))},
      {"seed-one", Flags(0x00, tree::EncodeLeaf(tree::KeyType::kInt64, one))},
      {"seed-unit", Flags(0x01, tree::EncodeLeaf(tree::KeyType::kInt64, unit))},
      {"seed-v2-int64", Flags(0x01, tree::EncodeLeafV2(tree::KeyType::kInt64, ints))},
      {"seed-v2-unit", Flags(0x01, tree::EncodeLeafV2(tree::KeyType::kInt64, unit))},
  };
}

std::vector<FuzzSeed> SummaryChunkSeeds() {
  std::vector<tree::PersistedSummary> summaries = {
      {tree::EncodeInt64Key(-3), 10, 4, NodeID::Make(30, 1)},
      {tree::EncodeInt64Key(50), 0, 252, NodeID::Make(31, 7)},
  };
  return {
      {"seed-two", Flags(0x01, tree::EncodeSummaryChunk(summaries))},
      {"seed-raw", Flags(0x00, tree::EncodeSummaryChunk(std::span(summaries).first(1)))},
  };
}

std::vector<FuzzSeed> TreeDescriptorSeeds() {
  tree::TreeDescriptor empty;
  empty.key_type = tree::KeyType::kDouble;
  empty.leaf_capacity_entries = 252;
  empty.fanout = 64;
  tree::TreeDescriptor d;
  d.key_type = tree::KeyType::kInt64;
  d.leaf_capacity_entries = 4;
  d.fanout = 4;
  d.positive_count = 30;
  d.entry_count = 9;
  d.leaf_count = 3;
  d.refs = {{NodeID::Make(40, 1), tree::EncodeInt64Key(-8), 2, 5, 20},
            {NodeID::Make(41, 1), tree::EncodeInt64Key(90), 1, 4, 10}};
  tree::TreeDescriptor high = d;  // names two level-2 index chunks
  high.index_height = 3;
  // Version 1 (read only): the old worked example's layout, 24-byte refs.
  std::string v1 = tree::EncodeTreeDescriptor(d).substr(0, 48);
  v1[4] = 1;
  v1[7] = 0;
  for (const tree::IndexRef& r : d.refs) {
    PutFixed64(&v1, r.child_id.raw());
    PutFixed32(&v1, static_cast<uint32_t>(r.leaf_count));
    PutFixed32(&v1, 0);
    PutFixed64(&v1, r.first_key);
  }
  PutFixed32(&v1, 0);
  return {
      {"seed-empty", Flags(0x01, tree::EncodeTreeDescriptor(empty))},
      {"seed-two-chunks", Flags(0x01, tree::EncodeTreeDescriptor(d))},
      {"seed-raw", Flags(0x00, tree::EncodeTreeDescriptor(d))},
      {"seed-height-3", Flags(0x01, tree::EncodeTreeDescriptor(high))},
      {"seed-version-1", Flags(0x01, v1)},
  };
}

std::vector<FuzzSeed> IndexChunkSeeds() {
  tree::IndexChunk c;
  c.key_type = tree::KeyType::kInt64;
  c.level = 1;
  c.refs = {{NodeID::Make(50, 1), tree::EncodeInt64Key(-1), 2, 3, 3},
            {NodeID::Make(51, 1), tree::EncodeInt64Key(20), 1, 1, 5}};
  tree::IndexChunk high = c;
  high.key_type = tree::KeyType::kDouble;
  high.level = 4;
  high.refs.resize(1);
  return {
      {"seed-two", Flags(0x01, tree::EncodeIndexChunk(c))},
      {"seed-raw", Flags(0x00, tree::EncodeIndexChunk(c))},
      {"seed-level-4", Flags(0x01, tree::EncodeIndexChunk(high))},
  };
}

std::vector<FuzzSeed> CsvSeeds() {
  const std::string flights =
      "date,delay,distance,origin,destination\n"
      "2001-01-01T00:01,33,2176,LAS,PHL\n"
      "2001-01-01T00:01,19,215,ATL,SAV\n"
      "2001-01-01T00:01,-13,2345,ANC,LAX\n";
  const std::string quoted =
      "\xEF\xBB\xBF"
      "name,\"va\"\"lue\",note\r\n"
      "\"a,b\",+17,\"multi\nline\"\r\n"
      "\r\n"
      "x,1.5e3,\"\"\n"
      "\n"
      "ragged,row\n"
      "y,-9223372036854775808,lone\rcr\n"
      "z,99999999999999999999,end";
  std::string compressed(ZSTD_compressBound(flights.size()), '\0');
  const size_t n =
      ZSTD_compress(compressed.data(), compressed.size(), flights.data(), flights.size(), 3);
  COWTREE_ASSERT(!ZSTD_isError(n));
  compressed.resize(n);
  return {
      {"seed-flights", Flags(0x00, flights)},
      {"seed-quoted", Flags(0x01, quoted)},
      {"seed-unterminated", Flags(0x02, "a,b\n1,\"open\n")},
      {"seed-after-quote", Flags(0x05, "a,b\n\"x\"y,1\n")},
      {"seed-zstd", Flags(0x03, compressed)},
      {"seed-one-column", Flags(0x07, "v\n\"\"\n1\n\n-0.0\n")},
  };
}

// A run written by RunWriter into an in-memory Env, prefixed with its op count (u32).
std::string LoaderRunInput(
    const std::vector<std::tuple<api_internal::LoaderTree, uint64_t, int64_t>>& ops) {
  testutil::FaultInjectionEnv env;
  auto w = api_internal::RunWriter::Create(&env, "/run",
                                           api_internal::RunIdentity{kFuzzLoaderRunNonce, 1}, 256);
  COWTREE_ASSERT(w.ok());
  for (const auto& [tree, key, weight] : ops) COWTREE_ASSERT((*w)->Add(tree, key, weight).ok());
  COWTREE_ASSERT((*w)->Finish().ok());
  auto f = env.OpenFile("/run", OpenMode::kReadOnly);
  COWTREE_ASSERT(f.ok());
  std::string bytes((*w)->bytes(), '\0');
  size_t got = 0;
  COWTREE_ASSERT((*f)->ReadAt(0, bytes.size(), bytes.data(), &got).ok() && got == bytes.size());
  std::string out;
  PutFixed32(&out, static_cast<uint32_t>((*w)->ops()));
  return out + bytes;
}

std::vector<FuzzSeed> LoaderRunSeeds() {
  using api_internal::LoaderTree;
  const LoaderTree t{3, KeyType::kInt64, "t"};
  const LoaderTree d{7, KeyType::kDouble, "doubles"};
  std::vector<std::tuple<LoaderTree, uint64_t, int64_t>> many;
  for (uint64_t k = 0; k < 150; ++k) many.emplace_back(t, k * 1000, k % 3 == 0 ? -2 : 1);
  many.emplace_back(d, 5, INT64_MAX);
  many.emplace_back(d, 5, INT64_MIN);
  many.emplace_back(d, UINT64_MAX, 1);
  std::string worked = LoaderRunInput({{t, 10, 1}, {t, 10, 1}, {t, 300, -2}});
  std::string more_ops = worked;
  more_ops[0] = 4;  // the writer "reported" 4 ops: the run holds 3
  return {
      {"seed-worked-example", Flags(0x00, worked)},
      {"seed-blocks", Flags(0x01, LoaderRunInput(many))},
      {"seed-count-mismatch", Flags(0x00, more_ops)},
  };
}

}  // namespace

std::vector<FuzzSeed> MakeFuzzSeeds(std::string_view target) {
  if (target == "superblock") return SuperblockSeeds();
  if (target == "log_frame") return LogFrameSeeds();
  if (target == "log_replay") return LogReplaySeeds();
  if (target == "manifest") return ManifestSeeds();
  if (target == "ot_checkpoint") return OtCheckpointSeeds();
  if (target == "ot_delta") return OtDeltaSeeds();
  if (target == "ot_record") return OtRecordSeeds();
  if (target == "object") return ObjectSeeds();
  if (target == "commit_record") return CommitRecordSeeds();
  if (target == "catalog_chunk") return CatalogChunkSeeds();
  if (target == "catalog_root") return CatalogRootSeeds();
  if (target == "leaf") return LeafSeeds();
  if (target == "summary_chunk") return SummaryChunkSeeds();
  if (target == "tree_descriptor") return TreeDescriptorSeeds();
  if (target == "index_chunk") return IndexChunkSeeds();
  if (target == "csv") return CsvSeeds();
  if (target == "loader_run") return LoaderRunSeeds();
  return {};
}

}  // namespace cowtree::fuzz
