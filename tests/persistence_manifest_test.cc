// Tests of the manifest (persistence/manifest.h): round trip, exact encoding, atomic write and
// read, CRC mismatch, truncated JSON, every malformed field, path escapes and duplicates.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/manifest.h"

namespace cowtree {
namespace {

Manifest Sample() {
  Manifest m;
  m.generation = 3;
  m.store_id = ExampleStoreId();
  m.data_files = {{"data-4k.dat", 4096, 1 << 20}, {"data-256k.dat", 262144, 0}};
  m.ot_checkpoints = {{"ot-000002.otc", 2, 40}};
  m.log_files = {{"log-000004.log", 4, 35, 61}, {"log-000005.log", 5, 0, 0}};
  m.retained_checkpoints = {
      {"before-march", 40, 0x0100000000000007ull, 9, 1796000000000, 12, 1048576}};
  return m;
}

// Recomputes the crc32c value the way docs/manifest.md says (digits read as "00000000").
std::string Seal(std::string json, const std::string& token = "\"crc32c\":\"") {
  const size_t at = json.find(token);
  EXPECT_NE(at, std::string::npos) << json;
  if (at == std::string::npos) return json;
  json.replace(at + token.size(), 8, "00000000");
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", Crc32c(json));
  json.replace(at + token.size(), 8, hex);
  return json;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(ManifestCodecTest, RoundTripAndExactBytes) {
  const Manifest m = Sample();
  const std::string json = EncodeManifest(m);
  const std::string expected_prefix =
      "{\"magic\":\"cowtree-manifest\",\"format_version\":3,\"generation\":3,"
      "\"store_id\":\"000102030405060708090a0b0c0d0e0f\","
      "\"data_files\":[{\"name\":\"data-4k.dat\",\"size_class_bytes\":4096,\"size_bytes\":"
      "1048576},{\"name\":\"data-256k.dat\",\"size_class_bytes\":262144,\"size_bytes\":0}],"
      "\"ot_checkpoints\":[{\"name\":\"ot-000002.otc\",\"id\":2,\"epoch\":40}],"
      "\"log_files\":[{\"name\":\"log-000004.log\",\"number\":4,\"first_epoch\":35,"
      "\"last_epoch\":61},{\"name\":\"log-000005.log\",\"number\":5,\"first_epoch\":0,"
      "\"last_epoch\":0}],\"retained_checkpoints\":[{\"name\":\"before-march\",\"epoch\":40,"
      "\"catalog_root\":72057594037927943,\"superblock_generation\":9,"
      "\"created_unix_ms\":1796000000000,\"tree_count\":12,\"live_bytes\":1048576}],"
      "\"crc32c\":\"";
  ASSERT_EQ(json.substr(0, expected_prefix.size()), expected_prefix);
  EXPECT_EQ(json.substr(expected_prefix.size()), "59241e6c\"}\n");  // docs/manifest.md
  EXPECT_EQ(json.substr(json.size() - 3), "\"}\n");
  EXPECT_EQ(Seal(json), json);  // the documented CRC rule reproduces the stored value
  Result<Manifest> back = DecodeManifest(json, "MANIFEST-000003.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);

  Manifest empty;
  empty.generation = 1;
  empty.store_id = ExampleStoreId();
  back = DecodeManifest(EncodeManifest(empty), "m");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, empty);

  Manifest big = Sample();
  big.generation = UINT64_MAX;
  big.data_files[0].size_bytes = UINT64_MAX;
  big.log_files[0].last_epoch = UINT64_MAX;
  back = DecodeManifest(EncodeManifest(big), "m");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, big);
}

Status Decode(const std::string& json) {
  return DecodeManifest(json, "MANIFEST-000003.json").status();
}

void ExpectCorruption(const std::string& json, const std::string& field,
                      const std::string& detail = "") {
  const Status st = Decode(json);
  ASSERT_TRUE(st.IsCorruption()) << json << " -> " << st.ToString();
  EXPECT_NE(st.message().find("MANIFEST-000003.json"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("field " + field), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(detail), std::string::npos) << st.message();
}

TEST(ManifestCodecTest, CrcMismatch) {
  const std::string json = EncodeManifest(Sample());
  ExpectCorruption(Replace(json, "1048576", "1048577"), "crc32c", "CRC mismatch");
  ExpectCorruption(Replace(json, "\"epoch\":40", "\"epoch\":41"), "crc32c", "CRC mismatch");
  // The digits themselves: not hex, upper case, wrong length, not a string.
  const size_t at = json.find("\"crc32c\":\"") + 10;
  std::string upper = json;
  for (size_t i = at; i < at + 8; ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  if (upper != json) ExpectCorruption(upper, "crc32c", "lowercase hex");
  ExpectCorruption(Replace(json, json.substr(at - 1, 10), "\"1234567\""), "crc32c", "8 lower");
  ExpectCorruption(Replace(json, json.substr(at - 1, 10), "12345678"), "crc32c", "string");
  // Whitespace around the member changes the spelling the CRC rule relies on.
  ExpectCorruption(Seal(Replace(json, "\"crc32c\":\"", "\"crc32c\": \""), "\"crc32c\": \""),
                   "crc32c", "exactly one member");
}

TEST(ManifestCodecTest, TruncatedOrInvalidJsonNamesTheByteOffset) {
  const std::string json = EncodeManifest(Sample());
  for (size_t len : {size_t{0}, size_t{1}, size_t{30}, json.size() / 2, json.size() - 3}) {
    const Status st = Decode(json.substr(0, len));
    ASSERT_TRUE(st.IsCorruption()) << len;
    EXPECT_NE(st.message().find("JSON parse error at byte offset"), std::string::npos)
        << st.message();
  }
  EXPECT_TRUE(Decode(json + "{}").IsCorruption());  // trailing garbage after the root
  const Status st = Decode("[1,2,3]");
  EXPECT_NE(st.message().find("field <root>: expected a JSON object"), std::string::npos)
      << st.message();
}

TEST(ManifestCodecTest, EachMalformedField) {
  const std::string json = EncodeManifest(Sample());
  struct Case {
    std::string from, to, field, detail;
  };
  const std::vector<Case> cases = {
      {"\"cowtree-manifest\"", "\"cowtree-manifesto\"", "magic", "expected \"cowtree-manifest\""},
      {"\"cowtree-manifest\"", "7", "magic", "expected a string"},
      {"\"format_version\":3", "\"format_version\":4", "format_version", "unknown version 4"},
      {"\"format_version\":3", "\"format_version\":1", "format_version", "older cowtree"},
      {"\"format_version\":3", "\"format_version\":\"3\"", "format_version", "unsigned 64"},
      // Version 2 has no retained_checkpoints member; version 3 requires it.
      {"\"format_version\":3", "\"format_version\":2", "retained_checkpoints", "unknown field"},
      {"\"retained_checkpoints\":[", "\"retained_checkpointz\":[", "retained_checkpointz",
       "unknown field"},
      {"\"before-march\"", "\".hidden\"", "retained_checkpoints[0].name", "starts with '.'"},
      {"\"before-march\"", "\"a/b\"", "retained_checkpoints[0].name", "outside [A-Za-z0-9._-]"},
      {"\"superblock_generation\":9", "\"superblock_generation\":0",
       "retained_checkpoints[0].superblock_generation", "0"},
      {"\"tree_count\":12,", "", "retained_checkpoints[0].tree_count", "missing"},
      {"\"store_id\":\"000102030405060708090a0b0c0d0e0f\"",
       "\"store_id\":\"00000000000000000000000000000000\"", "store_id", "zero"},
      {"\"store_id\":\"000102030405060708090a0b0c0d0e0f\"", "\"store_id\":\"0001\"", "store_id",
       "32 hex digits"},
      {"\"generation\":3", "\"generation\":-3", "generation", "unsigned 64-bit"},
      {"\"generation\":3", "\"generation\":3.0", "generation", "unsigned 64-bit"},
      {"\"generation\":3", "\"generation\":18446744073709551616", "generation", "unsigned"},
      {"\"generation\":3", "\"generation\":0", "generation", "0"},
      {"\"generation\":3", "\"generation\":null", "generation", "unsigned"},
      {"\"generation\":3,", "", "generation", "missing"},
      {"\"generation\":3,", "\"generation\":3,\"extra\":1,", "extra", "unknown field"},
      {"\"generation\":3,", "\"generation\":3,\"generation\":3,", "generation", "duplicate"},
      {"\"ot_checkpoints\":[{\"name\":\"ot-000002.otc\",\"id\":2,\"epoch\":40}]",
       "\"ot_checkpoints\":[7]", "ot_checkpoints[0]", "expected a JSON object"},
      {"{\"name\":\"data-4k.dat\",", "{", "data_files[0].name", "missing"},
      {"\"name\":\"data-4k.dat\"", "\"name\":4", "data_files[0].name", "expected a string"},
      {"\"size_class_bytes\":4096", "\"size_class_bytes\":5000", "data_files[0].size_class_bytes",
       "not a size class"},
      {"\"size_class_bytes\":4096", "\"size_class_bytes\":8192", "data_files[0].name",
       "does not match"},
      {"\"size_bytes\":0", "\"size_bytes\":true", "data_files[1].size_bytes", "unsigned"},
      {"\"size_bytes\":0", "\"size_bytes\":0,\"x\":1", "data_files[1].x", "unknown field"},
      {"\"id\":2", "\"id\":9", "ot_checkpoints[0].name", "does not match"},
      {"\"epoch\":40", "\"epoch\":-1", "ot_checkpoints[0].epoch", "unsigned"},
      {"\"number\":4", "\"number\":5", "log_files[0].name", "does not match"},
      {"\"first_epoch\":35", "\"first_epoch\":62", "log_files[0].first_epoch", "> last_epoch"},
      {"\"last_epoch\":0}", "\"last_epoch\":0,\"last_epoch\":0}", "log_files[1].last_epoch",
       "duplicate"},
      {"\"name\":\"log-000005.log\",\"number\":5", "\"name\":\"log-000004.log\",\"number\":4",
       "log_files[1].name", "listed twice"},
      {"\"name\":\"ot-000002.otc\"", "\"name\":\"log-000002.log\"", "ot_checkpoints[0].name",
       "not a ot-checkpoint file name"},
      {"\"name\":\"data-4k.dat\"", "\"name\":\"data-4k.dat.tmp\"", "data_files[0].name",
       "not a data file name"},
      // Path escapes: names are plain file names inside the store.
      {"\"name\":\"log-000004.log\"", "\"name\":\"../x\"", "log_files[0].name", "directory"},
      {"\"name\":\"log-000004.log\"", "\"name\":\"..\"", "log_files[0].name", "escapes"},
      {"\"name\":\"log-000004.log\"", "\"name\":\"/etc/passwd\"", "log_files[0].name",
       "absolute path"},
      {"\"name\":\"log-000004.log\"", "\"name\":\"a/b\"", "log_files[0].name", "directory part"},
      {"\"name\":\"log-000004.log\"", "\"name\":\"../log-000004.log\"", "log_files[0].name",
       "directory part"},
      {"\"name\":\"log-000004.log\"", "\"name\":\"\"", "log_files[0].name", "empty name"},
      {"\"name\":\"log-000004.log\"", "\"name\":\"log-000004.log\\u0000\"", "log_files[0].name",
       "not a log file name"},
      // A member name changed (a bit flip in a key): reported, never looked up unchecked
      // (RapidJSON's operator[] asserts that the member exists).
      {"\"magic\"", "\"mAgic\"", "magic", "missing"},
      {"\"format_version\"", "\"format_versioN\"", "format_version", "missing"},
      {"{\"name\":\"data-4k.dat\"", "{\"namE\":\"data-4k.dat\"", "data_files[0].namE",
       "unknown field"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.from + " -> " + c.to);
    ExpectCorruption(Seal(Replace(json, c.from, c.to)), c.field, c.detail);
  }
  Manifest empty;
  empty.generation = 3;
  empty.store_id = ExampleStoreId();
  const std::string empty_json = EncodeManifest(empty);
  for (const char* array : {"data_files", "ot_checkpoints", "log_files"}) {
    const std::string from = std::string("\"") + array + "\":[]";
    for (const char* to : {":{}", ":null", ":\"x\"", ":1"}) {
      ExpectCorruption(Seal(Replace(empty_json, from, std::string("\"") + array + "\"" + to)),
                       array, "expected a JSON array");
    }
  }
}

class ManifestFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cowtree_manifest_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  Env* env_ = Env::Default();
  std::string dir_;
};

TEST_F(ManifestFileTest, WriteThenReadAtomically) {
  EXPECT_TRUE(ReadManifest(env_, dir_, 3).status().IsNotFound());
  ASSERT_TRUE(WriteManifest(env_, dir_, Sample()).ok());
  std::vector<std::string> names;
  ASSERT_TRUE(env_->ListDir(dir_, &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"MANIFEST-000003.json"});  // no .tmp left behind
  auto m = ReadManifest(env_, dir_, 3);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, Sample());

  // The content of generation 3 under the name of generation 4: refused.
  std::string bytes;
  ASSERT_TRUE(env_->ReadFileToString(JoinPath(dir_, ManifestFileName(3)), &bytes).ok());
  ASSERT_TRUE(env_->WriteStringToFileSync(JoinPath(dir_, ManifestFileName(4)), bytes).ok());
  auto wrong = ReadManifest(env_, dir_, 4);
  ASSERT_TRUE(wrong.status().IsCorruption());
  EXPECT_NE(wrong.status().message().find("MANIFEST-000004.json: field generation: 3, expected 4"),
            std::string::npos)
      << wrong.status().message();

  // A rotted byte is caught by the CRC and the error names the file.
  bytes[bytes.find("1048576")] = '2';
  ASSERT_TRUE(env_->WriteStringToFileSync(JoinPath(dir_, ManifestFileName(3)), bytes).ok());
  auto rotted = ReadManifest(env_, dir_, 3);
  ASSERT_TRUE(rotted.status().IsCorruption());
  EXPECT_NE(rotted.status().message().find("MANIFEST-000003.json"), std::string::npos);
  EXPECT_NE(rotted.status().message().find("CRC mismatch"), std::string::npos);

  // Rewriting replaces the file atomically.
  Manifest next = Sample();
  next.generation = 5;
  next.log_files.pop_back();
  ASSERT_TRUE(WriteManifest(env_, dir_, next).ok());
  m = ReadManifest(env_, dir_, 5);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, next);
}

// Stores written before retained checkpoints (format version 2) stay readable.
TEST(ManifestCodecTest, Version2IsReadWithoutRetainedCheckpoints) {
  Manifest m = Sample();
  m.retained_checkpoints.clear();
  std::string json = EncodeManifest(m);
  json = Replace(json, ",\"retained_checkpoints\":[]", "");
  json = Seal(Replace(json, "\"format_version\":3", "\"format_version\":2"));
  Result<Manifest> back = DecodeManifest(json, "MANIFEST-000003.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
  // Version 3 without the member: missing.
  ExpectCorruption(Seal(Replace(json, "\"format_version\":2", "\"format_version\":3")),
                   "retained_checkpoints", "missing");
}

TEST(ManifestValidateTest, RetainedCheckpointRules) {
  Manifest m = Sample();
  m.retained_checkpoints.push_back(m.retained_checkpoints[0]);
  EXPECT_NE(ValidateManifest(m).find("is listed twice"), std::string::npos);
  m.retained_checkpoints[1].name = "later";
  EXPECT_EQ(ValidateManifest(m), "");  // the same epoch twice is fine (two names, one state)
  m.retained_checkpoints[1].epoch = 39;
  EXPECT_NE(ValidateManifest(m).find("retained_checkpoints[1].epoch"), std::string::npos);
  EXPECT_EQ(CheckCheckpointName(std::string(64, 'x')), "");
  EXPECT_NE(CheckCheckpointName(std::string(65, 'x')), "");
  EXPECT_NE(CheckCheckpointName(""), "");
  EXPECT_NE(CheckCheckpointName("-x"), "");
}

TEST(ManifestValidateTest, ValidateNamesTheProblem) {
  Manifest m = Sample();
  EXPECT_EQ(ValidateManifest(m), "");
  m.log_files[0].name = "../log-000004.log";
  EXPECT_NE(ValidateManifest(m).find("log_files[0].name"), std::string::npos);
  m = Sample();
  m.generation = 0;
  EXPECT_NE(ValidateManifest(m).find("generation"), std::string::npos);
}

}  // namespace
}  // namespace cowtree
