// The fuzz targets of cowtree's decoders (docs/fuzzing.md).
//
// Each tests/fuzz/<name>_fuzz.cc defines `int Fuzz<Name>(const uint8_t* data, size_t size)`:
// it decodes `data` (a flags byte, then the bytes under test: tests/fuzz/fuzz_util.h), checks
// the properties listed in its file (round trip through the encoder, agreement with a model,
// consistency between related APIs) and returns 0. A violated property aborts.
//
// They are built twice:
// - with -DCOWTREE_FUZZ=ON (clang): one libFuzzer binary per target, fuzz_<name>, whose
//   LLVMFuzzerTestOneInput (generated from libfuzzer_main.cc.in) calls Fuzz<Name>, with
//   -fsanitize=fuzzer,address,undefined;
// - in every build: linked into tools_fuzz_corpus_test, which runs the committed corpus
//   (tests/fuzz/corpus/<name>/), the generated seeds and deterministic mutations of them
//   through kFuzzTargets.
//
// Adding a target: write tests/fuzz/<name>_fuzz.cc, declare Fuzz<Name> here, add a kFuzzTargets
// row and seeds in seeds.cc, run `cowtree_fuzz_make_seeds tests/fuzz/corpus`, and list it in
// docs/fuzzing.md. The corpus test fails if a *_fuzz.cc file has no row here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cowtree::fuzz {

int FuzzSuperblock(const uint8_t* data, size_t size);
int FuzzLogFrame(const uint8_t* data, size_t size);
int FuzzLogReplay(const uint8_t* data, size_t size);
int FuzzManifest(const uint8_t* data, size_t size);
int FuzzOtCheckpoint(const uint8_t* data, size_t size);
int FuzzOtDelta(const uint8_t* data, size_t size);
int FuzzOtRecord(const uint8_t* data, size_t size);
int FuzzObject(const uint8_t* data, size_t size);
int FuzzCommitRecord(const uint8_t* data, size_t size);
int FuzzCatalogChunk(const uint8_t* data, size_t size);
int FuzzCatalogRoot(const uint8_t* data, size_t size);
int FuzzLeaf(const uint8_t* data, size_t size);
int FuzzSummaryChunk(const uint8_t* data, size_t size);
int FuzzTreeDescriptor(const uint8_t* data, size_t size);
int FuzzIndexChunk(const uint8_t* data, size_t size);
int FuzzCsv(const uint8_t* data, size_t size);
int FuzzLoaderRun(const uint8_t* data, size_t size);
// The loader nonce of the loader_run target's runs (read as run 1 of this loader).
inline constexpr uint64_t kFuzzLoaderRunNonce = 0x0123456789ABCDEFull;

struct FuzzTarget {
  const char* name;  // <name> of tests/fuzz/<name>_fuzz.cc and tests/fuzz/corpus/<name>/
  int (*fn)(const uint8_t* data, size_t size);
  size_t max_len;  // -max_len for libFuzzer runs and the corpus test's mutations
};

inline constexpr FuzzTarget kFuzzTargets[] = {
    {"superblock", FuzzSuperblock, 16500},  // four 4096-byte copies + flags + slack
    {"log_frame", FuzzLogFrame, 4096},
    {"log_replay", FuzzLogReplay, 8192},
    {"manifest", FuzzManifest, 8192},
    {"ot_checkpoint", FuzzOtCheckpoint, 8192},
    {"ot_delta", FuzzOtDelta, 4096},
    {"ot_record", FuzzOtRecord, 64},
    {"object", FuzzObject, 4096},
    {"commit_record", FuzzCommitRecord, 4096},
    {"catalog_chunk", FuzzCatalogChunk, 4096},
    {"catalog_root", FuzzCatalogRoot, 4096},
    {"leaf", FuzzLeaf, 4096},
    {"summary_chunk", FuzzSummaryChunk, 4096},
    {"tree_descriptor", FuzzTreeDescriptor, 4096},
    {"index_chunk", FuzzIndexChunk, 4096},
    {"csv", FuzzCsv, 4096},
    {"loader_run", FuzzLoaderRun, 4096},
};

}  // namespace cowtree::fuzz
