// Fuzz target: a BulkLoader's run file (api/loader_run.h RunReader, docs/loader_run.md).
//
// Input: flags byte, then a u32 (little-endian) op count the writer "reported", then the run's
// bytes (its reported size is the rest of the input). Flags bit 0: recompute each block's
// CRC32C where a block header can be found (so that the checks behind the checksum are
// reached).
// Properties
// - Reading the run either fails with Corruption (never an assertion, never an op past the
//   reported count) or yields exactly the reported count of ops, in ascending (tree id, key)
//   order (read as run 1 of loader kFuzzLoaderRunNonce), with weights other than 0, names
//   of 1..1024 bytes and one name and key type per tree id.
// - The ops read, written again by RunWriter and read back, are the same ops.
#include <string>
#include <vector>

#include "api/loader_run.h"
#include "persistence/coding.h"
#include "persistence/commit_record.h"
#include "persistence/crc32c.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"
#include "testutil/fault_injection_env.h"

namespace cowtree::fuzz {
namespace {

constexpr size_t kBlockBytes = 256;
// The identity every input's run is read as (the seeds are written with it).
constexpr api_internal::RunIdentity kIdentity{kFuzzLoaderRunNonce, 1};

struct ReadOp {
  api_internal::LoaderTree tree;
  uint64_t key = 0;
  int64_t weight = 0;
};

// Reads /run of `env` (ops, bytes as reported); returns its status, the ops in *out.
Status ReadRun(Env* env, uint64_t ops, uint64_t bytes, std::vector<ReadOp>* out) {
  auto r = api_internal::RunReader::Open(env, "/run", kIdentity, ops, bytes, kBlockBytes);
  if (!r.ok()) return r.status();
  while (true) {
    bool has = false;
    COWTREE_RETURN_IF_ERROR((*r)->Next(&has));
    if (!has) return Status::OK();
    FUZZ_CHECK(out->size() < ops, "an op past the reported count");
    out->push_back(ReadOp{(*r)->tree(), (*r)->key_code(), (*r)->weight()});
  }
}

void WriteFile(Env* env, const std::string& path, const std::string& bytes) {
  (void)env->DeleteFile(path);
  auto f = env->OpenFile(path, OpenMode::kCreate);
  FUZZ_CHECK(f.ok());
  FUZZ_CHECK((*f)->WriteAt(0, bytes).ok());
}

// Re-seals each block's checksum while its header's payload size stays inside the input.
void FixBlockCrcs(std::string* run) {
  size_t off = 0;
  while (run->size() - off >= api_internal::kRunBlockHeaderBytes) {
    const uint32_t payload = DecodeFixed32(run->data() + off + 8);
    const size_t end = off + api_internal::kRunBlockHeaderBytes + payload;
    if (payload > run->size() || end > run->size()) return;
    EncodeFixed32(run->data() + off + 4,
                  Crc32c(run->data() + off + 8, api_internal::kRunBlockHeaderBytes - 8 + payload));
    off = end;
  }
}

}  // namespace

int FuzzLoaderRun(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in) || in.bytes.size() < 4) return 0;
  const uint64_t ops = DecodeFixed32(in.bytes.data());
  std::string run = in.bytes.substr(4);
  if (in.flag(0)) FixBlockCrcs(&run);
  testutil::FaultInjectionEnv env;
  WriteFile(&env, "/run", run);
  std::vector<ReadOp> got;
  const Status st = ReadRun(&env, ops, run.size(), &got);
  if (!st.ok()) {
    FUZZ_CHECK_CORRUPTION(st);
    return 0;
  }
  FUZZ_CHECK(got.size() == ops);
  for (size_t i = 0; i < got.size(); ++i) {
    const ReadOp& op = got[i];
    FUZZ_CHECK(op.weight != 0 && op.tree.tree_id != 0);
    FUZZ_CHECK(!op.tree.name.empty() && op.tree.name.size() <= kTreeNameBytesMax);
    if (i > 0) {
      const ReadOp& prev = got[i - 1];
      FUZZ_CHECK(prev.tree.tree_id < op.tree.tree_id ||
                 (prev.tree.tree_id == op.tree.tree_id && prev.key <= op.key));
      if (prev.tree.tree_id == op.tree.tree_id) {
        FUZZ_CHECK(prev.tree.name == op.tree.name && prev.tree.type == op.tree.type);
      }
    }
  }
  // Round trip through the writer.
  (void)env.DeleteFile("/again");
  auto w = api_internal::RunWriter::Create(&env, "/again", kIdentity, kBlockBytes);
  FUZZ_CHECK(w.ok());
  for (const ReadOp& op : got) FUZZ_CHECK((*w)->Add(op.tree, op.key, op.weight).ok());
  FUZZ_CHECK((*w)->Finish().ok());
  auto r = api_internal::RunReader::Open(&env, "/again", kIdentity, (*w)->ops(), (*w)->bytes(),
                                         kBlockBytes);
  FUZZ_CHECK(r.ok());
  for (const ReadOp& op : got) {
    bool has = false;
    FUZZ_CHECK((*r)->Next(&has).ok() && has);
    FUZZ_CHECK((*r)->tree().tree_id == op.tree.tree_id && (*r)->key_code() == op.key &&
               (*r)->weight() == op.weight && (*r)->tree().name == op.tree.name);
  }
  bool has = true;
  FUZZ_CHECK((*r)->Next(&has).ok() && !has);
  return 0;
}

}  // namespace cowtree::fuzz
