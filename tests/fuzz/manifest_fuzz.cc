// Fuzz target: the JSON manifest (persistence/manifest.h DecodeManifest, docs/manifest.md).
//
// Input: flags byte, then the manifest file bytes.
//   bit 0: if the bytes contain the writer's "crc32c":"xxxxxxxx" member, store the right CRC
//          in it (the CRC of the bytes with those 8 digits read as "00000000").
//   bit 1: also read it back through ReadManifest from an in-memory Env, as generation 1.
// Properties
// - DecodeManifest either fails with Corruption or returns a manifest that ValidateManifest
//   accepts; EncodeManifest of it (which asserts validity and decodes its own output) gives
//   bytes that decode to the same manifest, and encoding is deterministic: decoding and
//   re-encoding the encoder's bytes gives the same bytes.
// - ReadManifest agrees with DecodeManifest and additionally requires the generation of the
//   file name.
#include <cstdio>

#include "persistence/file_names.h"
#include "persistence/manifest.h"
#include "testutil/fault_injection_env.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {
namespace {

void FixManifestCrc(std::string* json) {
  static constexpr std::string_view kToken = "\"crc32c\":\"";
  const size_t pos = json->find(kToken);
  if (pos == std::string::npos) return;
  const size_t digits = pos + kToken.size();
  if (json->size() - digits < 8) return;
  json->replace(digits, 8, "00000000");
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", Crc32c(*json));
  json->replace(digits, 8, hex);
}

}  // namespace

int FuzzManifest(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  std::string& json = in.bytes;
  if (in.flag(0)) FixManifestCrc(&json);

  Result<Manifest> m = DecodeManifest(ExactBytes(json).view(), "MANIFEST-fuzz.json");
  if (!m.ok()) {
    FUZZ_CHECK_CORRUPTION(m.status());
  } else {
    FUZZ_CHECK(ValidateManifest(*m).empty(), ValidateManifest(*m));
    const std::string encoded = EncodeManifest(*m);
    Result<Manifest> again = DecodeManifest(encoded, "MANIFEST-fuzz.json");
    FUZZ_CHECK(again.ok(), again.status().ToString());
    FUZZ_CHECK(*again == *m, "round trip changed the manifest");
    FUZZ_CHECK(EncodeManifest(*again) == encoded, "encoding is not deterministic");
  }

  if (in.flag(1)) {
    testutil::FaultInjectionEnv env;
    FUZZ_CHECK(env.CreateDir("/db").ok());
    FUZZ_CHECK(env.WriteStringToFileSync(JoinPath("/db", ManifestFileName(1)), json).ok());
    Result<Manifest> read = ReadManifest(&env, "/db", 1);
    if (m.ok() && m->generation == 1) {
      FUZZ_CHECK(read.ok() && *read == *m, read.status().ToString());
    } else {
      FUZZ_CHECK(!read.ok());
      FUZZ_CHECK_CORRUPTION(read.status());
    }
  }
  return 0;
}

}  // namespace cowtree::fuzz
