#include "persistence/manifest.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <initializer_list>
#include <set>

#include "persistence/assert.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"

namespace cowtree {
namespace {

constexpr char kCrcKeyToken[] = "\"crc32c\":\"";  // as the writer emits it
constexpr size_t kCrcHexDigits = 8;
constexpr char kCrcPlaceholder[] = "00000000";

// "" if name is a plain file name of `kind` whose number is `number`; else the problem.
std::string CheckName(const std::string& name, FileKind kind, uint64_t number) {
  if (name.empty()) return "empty name";
  if (name.front() == '/') return "absolute path \"" + name + "\" (names are inside the store)";
  if (name.find('/') != std::string::npos) {
    return "\"" + name + "\" has a directory part (names are plain file names)";
  }
  if (name == "." || name == "..") return "\"" + name + "\" escapes the store directory";
  FileKind parsed_kind;
  uint64_t parsed_number = 0;
  if (!ParseFileName(name, &parsed_kind, &parsed_number) || parsed_kind != kind) {
    return "\"" + name + "\" is not a " + FileKindName(kind) + " file name";
  }
  if (parsed_number != number) {
    return "\"" + name + "\" does not match the entry's number " + std::to_string(number);
  }
  return "";
}

std::string Index(const char* array, size_t i) {
  return std::string(array) + "[" + std::to_string(i) + "]";
}

std::string CrcHex(uint32_t crc) {
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", crc);
  return hex;
}

// Field-by-field extraction with messages that name the file and the JSON path.
class Reader {
 public:
  explicit Reader(const std::string& file) : file_(file) {}

  Status Error(const std::string& path, const std::string& what) const {
    return Status::Corruption(file_ + ": field " + (path.empty() ? "<root>" : path) + ": " + what);
  }

  // Requires `v` to be an object with exactly the members `keys` (no unknown, no duplicates).
  Status CheckMembers(const rapidjson::Value& v, const std::string& path,
                      std::initializer_list<const char*> keys) const {
    if (!v.IsObject()) return Error(path, "expected a JSON object");
    std::set<std::string> seen;
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      const std::string key(it->name.GetString(), it->name.GetStringLength());
      bool known = false;
      for (const char* k : keys) known = known || key == k;
      const std::string sub = path.empty() ? key : path + "." + key;
      if (!known) return Error(sub, "unknown field");
      if (!seen.insert(key).second) return Error(sub, "duplicate field");
    }
    for (const char* k : keys) {
      if (seen.count(k) == 0) return Error(path.empty() ? k : path + "." + k, "missing");
    }
    return Status::OK();
  }

  // The member `key` of `obj`, or null if it is missing. Not operator[]: RapidJSON asserts
  // that the member exists (a debug build would abort on a corrupted member name).
  static const rapidjson::Value* Member(const rapidjson::Value& obj, const char* key) {
    if (!obj.IsObject()) return nullptr;
    const auto it = obj.FindMember(key);
    return it == obj.MemberEnd() ? nullptr : &it->value;
  }

  Status GetU64(const rapidjson::Value& obj, const char* key, const std::string& path,
                uint64_t* out) const {
    const rapidjson::Value* v = Member(obj, key);
    if (v == nullptr) return Error(Sub(path, key), "missing");
    if (!v->IsUint64()) return Error(Sub(path, key), "expected an unsigned 64-bit integer");
    *out = v->GetUint64();
    return Status::OK();
  }

  Status GetString(const rapidjson::Value& obj, const char* key, const std::string& path,
                   std::string* out) const {
    const rapidjson::Value* v = Member(obj, key);
    if (v == nullptr) return Error(Sub(path, key), "missing");
    if (!v->IsString()) return Error(Sub(path, key), "expected a string");
    out->assign(v->GetString(), v->GetStringLength());
    return Status::OK();
  }

  Status GetArray(const rapidjson::Value& obj, const char* key,
                  const rapidjson::Value** out) const {
    const rapidjson::Value* v = Member(obj, key);
    if (v == nullptr) return Error(key, "missing");
    if (!v->IsArray()) return Error(key, "expected a JSON array");
    *out = v;
    return Status::OK();
  }

  static std::string Sub(const std::string& path, const char* key) {
    return path.empty() ? std::string(key) : path + "." + key;
  }

 private:
  const std::string& file_;
};

// Verifies the crc32c rule of docs/manifest.md against the raw bytes.
Status CheckCrc(std::string_view json, const std::string& stored_hex, const Reader& r) {
  if (stored_hex.size() != kCrcHexDigits ||
      stored_hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return r.Error("crc32c", "expected 8 lowercase hex digits, got \"" + stored_hex + "\"");
  }
  // Inside a JSON string every '"' is escaped, so this token can only be the real member; it
  // must occur once, in the writer's compact spelling.
  const size_t pos = json.find(kCrcKeyToken);
  if (pos == std::string_view::npos || json.rfind(kCrcKeyToken) != pos) {
    return r.Error("crc32c", "expected exactly one member spelled \"crc32c\":\"xxxxxxxx\"");
  }
  const size_t digits = pos + sizeof(kCrcKeyToken) - 1;
  if (json.substr(digits, kCrcHexDigits) != stored_hex) {
    return r.Error("crc32c", "member not in the writer's canonical form");
  }
  std::string zeroed(json);
  zeroed.replace(digits, kCrcHexDigits, kCrcPlaceholder);
  const uint32_t actual = Crc32c(zeroed);
  if (CrcHex(actual) != stored_hex) {
    return r.Error("crc32c", "CRC mismatch: stored " + stored_hex + ", computed " + CrcHex(actual) +
                                 " (file bytes with the value read as " + kCrcPlaceholder + ")");
  }
  return Status::OK();
}

Status DecodeBody(const rapidjson::Value& root, const Reader& r, Manifest* m) {
  COWTREE_RETURN_IF_ERROR(r.GetU64(root, "generation", "", &m->generation));
  std::string store_id_hex;
  COWTREE_RETURN_IF_ERROR(r.GetString(root, "store_id", "", &store_id_hex));
  Result<StoreId> store_id = StoreId::FromHex(store_id_hex);
  if (!store_id.ok()) return r.Error("store_id", store_id.status().message());
  m->store_id = *store_id;
  const rapidjson::Value* arr = nullptr;
  COWTREE_RETURN_IF_ERROR(r.GetArray(root, "data_files", &arr));
  for (rapidjson::SizeType i = 0; i < arr->Size(); ++i) {
    const std::string path = Index("data_files", i);
    const rapidjson::Value& e = (*arr)[i];
    COWTREE_RETURN_IF_ERROR(r.CheckMembers(e, path, {"name", "size_class_bytes", "size_bytes"}));
    ManifestDataFile f;
    uint64_t size_class = 0;
    COWTREE_RETURN_IF_ERROR(r.GetString(e, "name", path, &f.name));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "size_class_bytes", path, &size_class));
    if (!IsValidSizeClass(size_class)) {
      return r.Error(path + ".size_class_bytes", std::to_string(size_class) +
                                                     " is not a size class (" +
                                                     std::to_string(kMinSizeClassBytes) + " ... " +
                                                     std::to_string(kMaxSizeClassBytes) + ")");
    }
    f.size_class_bytes = static_cast<uint32_t>(size_class);
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "size_bytes", path, &f.size_bytes));
    m->data_files.push_back(std::move(f));
  }
  COWTREE_RETURN_IF_ERROR(r.GetArray(root, "ot_checkpoints", &arr));
  for (rapidjson::SizeType i = 0; i < arr->Size(); ++i) {
    const std::string path = Index("ot_checkpoints", i);
    const rapidjson::Value& e = (*arr)[i];
    COWTREE_RETURN_IF_ERROR(r.CheckMembers(e, path, {"name", "id", "epoch"}));
    ManifestOtCheckpoint c;
    COWTREE_RETURN_IF_ERROR(r.GetString(e, "name", path, &c.name));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "id", path, &c.id));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "epoch", path, &c.epoch));
    m->ot_checkpoints.push_back(std::move(c));
  }
  COWTREE_RETURN_IF_ERROR(r.GetArray(root, "log_files", &arr));
  for (rapidjson::SizeType i = 0; i < arr->Size(); ++i) {
    const std::string path = Index("log_files", i);
    const rapidjson::Value& e = (*arr)[i];
    COWTREE_RETURN_IF_ERROR(
        r.CheckMembers(e, path, {"name", "number", "first_epoch", "last_epoch"}));
    ManifestLogFile l;
    COWTREE_RETURN_IF_ERROR(r.GetString(e, "name", path, &l.name));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "number", path, &l.number));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "first_epoch", path, &l.first_epoch));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "last_epoch", path, &l.last_epoch));
    m->log_files.push_back(std::move(l));
  }
  if (!root.HasMember("retained_checkpoints")) return Status::OK();  // format version 2
  COWTREE_RETURN_IF_ERROR(r.GetArray(root, "retained_checkpoints", &arr));
  for (rapidjson::SizeType i = 0; i < arr->Size(); ++i) {
    const std::string path = Index("retained_checkpoints", i);
    const rapidjson::Value& e = (*arr)[i];
    COWTREE_RETURN_IF_ERROR(
        r.CheckMembers(e, path,
                       {"name", "epoch", "catalog_root", "superblock_generation", "created_unix_ms",
                        "tree_count", "live_bytes"}));
    ManifestRetainedCheckpoint c;
    COWTREE_RETURN_IF_ERROR(r.GetString(e, "name", path, &c.name));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "epoch", path, &c.epoch));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "catalog_root", path, &c.catalog_root));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "superblock_generation", path, &c.superblock_generation));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "created_unix_ms", path, &c.created_unix_ms));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "tree_count", path, &c.tree_count));
    COWTREE_RETURN_IF_ERROR(r.GetU64(e, "live_bytes", path, &c.live_bytes));
    m->retained_checkpoints.push_back(std::move(c));
  }
  return Status::OK();
}

}  // namespace

RetainedEpochs RetainedEpochsOf(const Manifest& m) {
  std::vector<uint64_t> epochs;
  for (const ManifestRetainedCheckpoint& c : m.retained_checkpoints) epochs.push_back(c.epoch);
  return RetainedEpochs(std::move(epochs), /*version=*/1);
}

std::string CheckCheckpointName(std::string_view name) {
  if (name.empty()) return "empty checkpoint name";
  if (name.size() > kCheckpointNameBytesMax) {
    return "checkpoint name of " + std::to_string(name.size()) + " bytes (at most " +
           std::to_string(kCheckpointNameBytesMax) + ")";
  }
  if (name.front() == '.' || name.front() == '-') {
    return "checkpoint name \"" + std::string(name) + "\" starts with '" + name.front() + "'";
  }
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    if (!ok) {
      return "checkpoint name \"" + std::string(name) + "\" has a character outside [A-Za-z0-9._-]";
    }
  }
  return "";
}

std::string ValidateManifest(const Manifest& m) {
  if (m.generation == 0) return "generation: 0 (generations start at 1)";
  if (m.store_id.is_zero()) return "store_id: zero (every store has a random non-zero id)";
  std::set<std::string> names;
  auto check = [&names](const std::string& path, const std::string& name, FileKind kind,
                        uint64_t number) -> std::string {
    std::string bad = CheckName(name, kind, number);
    if (!bad.empty()) return path + ".name: " + bad;
    if (!names.insert(name).second) return path + ".name: \"" + name + "\" is listed twice";
    return "";
  };
  for (size_t i = 0; i < m.data_files.size(); ++i) {
    const ManifestDataFile& f = m.data_files[i];
    const std::string path = Index("data_files", i);
    if (!IsValidSizeClass(f.size_class_bytes)) return path + ".size_class_bytes: not a size class";
    std::string bad = check(path, f.name, FileKind::kData, f.size_class_bytes);
    if (!bad.empty()) return bad;
  }
  for (size_t i = 0; i < m.ot_checkpoints.size(); ++i) {
    const ManifestOtCheckpoint& c = m.ot_checkpoints[i];
    std::string bad = check(Index("ot_checkpoints", i), c.name, FileKind::kOtCheckpoint, c.id);
    if (!bad.empty()) return bad;
  }
  for (size_t i = 0; i < m.log_files.size(); ++i) {
    const ManifestLogFile& l = m.log_files[i];
    const std::string path = Index("log_files", i);
    std::string bad = check(path, l.name, FileKind::kLog, l.number);
    if (!bad.empty()) return bad;
    if (l.first_epoch > l.last_epoch) {
      return path + ".first_epoch: " + std::to_string(l.first_epoch) + " > last_epoch " +
             std::to_string(l.last_epoch);
    }
  }
  std::set<std::string> checkpoint_names;
  for (size_t i = 0; i < m.retained_checkpoints.size(); ++i) {
    const ManifestRetainedCheckpoint& c = m.retained_checkpoints[i];
    const std::string path = Index("retained_checkpoints", i);
    std::string bad = CheckCheckpointName(c.name);
    if (!bad.empty()) return path + ".name: " + bad;
    if (!checkpoint_names.insert(c.name).second) {
      return path + ".name: \"" + c.name + "\" is listed twice";
    }
    if (c.superblock_generation == 0) return path + ".superblock_generation: 0 (>= 1)";
    if (i > 0 && c.epoch < m.retained_checkpoints[i - 1].epoch) {
      return path + ".epoch: " + std::to_string(c.epoch) + " < the previous entry's " +
             std::to_string(m.retained_checkpoints[i - 1].epoch) + " (listed in retention order)";
    }
  }
  return "";
}

std::string EncodeManifest(const Manifest& m) {
  const std::string bad = ValidateManifest(m);
  if (!bad.empty())
    std::fprintf(stderr, "cowtree: EncodeManifest: invalid manifest: %s\n", bad.c_str());
  COWTREE_ASSERT(bad.empty());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("magic");
  w.String(kManifestMagic);
  w.Key("format_version");
  w.Uint64(kManifestFormatVersion);
  w.Key("generation");
  w.Uint64(m.generation);
  w.Key("store_id");
  w.String(m.store_id.ToHex().c_str());
  w.Key("data_files");
  w.StartArray();
  for (const ManifestDataFile& f : m.data_files) {
    w.StartObject();
    w.Key("name");
    w.String(f.name.data(), static_cast<rapidjson::SizeType>(f.name.size()));
    w.Key("size_class_bytes");
    w.Uint64(f.size_class_bytes);
    w.Key("size_bytes");
    w.Uint64(f.size_bytes);
    w.EndObject();
  }
  w.EndArray();
  w.Key("ot_checkpoints");
  w.StartArray();
  for (const ManifestOtCheckpoint& c : m.ot_checkpoints) {
    w.StartObject();
    w.Key("name");
    w.String(c.name.data(), static_cast<rapidjson::SizeType>(c.name.size()));
    w.Key("id");
    w.Uint64(c.id);
    w.Key("epoch");
    w.Uint64(c.epoch);
    w.EndObject();
  }
  w.EndArray();
  w.Key("log_files");
  w.StartArray();
  for (const ManifestLogFile& l : m.log_files) {
    w.StartObject();
    w.Key("name");
    w.String(l.name.data(), static_cast<rapidjson::SizeType>(l.name.size()));
    w.Key("number");
    w.Uint64(l.number);
    w.Key("first_epoch");
    w.Uint64(l.first_epoch);
    w.Key("last_epoch");
    w.Uint64(l.last_epoch);
    w.EndObject();
  }
  w.EndArray();
  w.Key("retained_checkpoints");
  w.StartArray();
  for (const ManifestRetainedCheckpoint& c : m.retained_checkpoints) {
    w.StartObject();
    w.Key("name");
    w.String(c.name.data(), static_cast<rapidjson::SizeType>(c.name.size()));
    w.Key("epoch");
    w.Uint64(c.epoch);
    w.Key("catalog_root");
    w.Uint64(c.catalog_root);
    w.Key("superblock_generation");
    w.Uint64(c.superblock_generation);
    w.Key("created_unix_ms");
    w.Uint64(c.created_unix_ms);
    w.Key("tree_count");
    w.Uint64(c.tree_count);
    w.Key("live_bytes");
    w.Uint64(c.live_bytes);
    w.EndObject();
  }
  w.EndArray();
  w.Key("crc32c");
  w.String(kCrcPlaceholder);
  w.EndObject();
  COWTREE_ASSERT(w.IsComplete());
  std::string out(sb.GetString(), sb.GetSize());
  out += '\n';
  const size_t pos = out.rfind(kCrcKeyToken);
  COWTREE_ASSERT(pos != std::string::npos);
  out.replace(pos + sizeof(kCrcKeyToken) - 1, kCrcHexDigits, CrcHex(Crc32c(out)));
  // Assert before writing: the bytes decode back to the manifest we meant.
  Result<Manifest> check = DecodeManifest(out, "<encoder>");
  COWTREE_ASSERT(check.ok() && *check == m);
  return out;
}

Result<Manifest> DecodeManifest(std::string_view json, const std::string& file) {
  rapidjson::Document doc;
  // Iterative parsing: the default recursive descent uses call stack per nesting level, so a
  // corrupt manifest of ~200 KB of '[' overflowed the stack (found by tests/fuzz/manifest).
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    return Status::Corruption(file + ": JSON parse error at byte offset " +
                              std::to_string(doc.GetErrorOffset()) + ": " +
                              rapidjson::GetParseError_En(doc.GetParseError()));
  }
  const Reader r(file);
  if (!doc.IsObject()) return r.Error("", "expected a JSON object");
  std::string magic;
  COWTREE_RETURN_IF_ERROR(r.GetString(doc, "magic", "", &magic));
  if (magic != kManifestMagic) {
    return r.Error("magic", "\"" + magic + "\", expected \"" + kManifestMagic + "\"");
  }
  uint64_t version = 0;
  COWTREE_RETURN_IF_ERROR(r.GetU64(doc, "format_version", "", &version));
  if (version < kManifestOldestReadableVersion) {
    return r.Error("format_version", "version " + std::to_string(version) +
                                         " was written by an older cowtree (this build reads "
                                         "versions 2 and 3, which name their store)");
  }
  if (version > kManifestFormatVersion) {
    return r.Error("format_version",
                   "unknown version " + std::to_string(version) + ", expected 2 or 3");
  }
  if (version == 2) {
    COWTREE_RETURN_IF_ERROR(
        r.CheckMembers(doc, "",
                       {"magic", "format_version", "generation", "store_id", "data_files",
                        "ot_checkpoints", "log_files", "crc32c"}));
  } else {
    COWTREE_RETURN_IF_ERROR(
        r.CheckMembers(doc, "",
                       {"magic", "format_version", "generation", "store_id", "data_files",
                        "ot_checkpoints", "log_files", "retained_checkpoints", "crc32c"}));
  }
  std::string crc_hex;
  COWTREE_RETURN_IF_ERROR(r.GetString(doc, "crc32c", "", &crc_hex));
  COWTREE_RETURN_IF_ERROR(CheckCrc(json, crc_hex, r));
  Manifest m;
  COWTREE_RETURN_IF_ERROR(DecodeBody(doc, r, &m));
  const std::string bad = ValidateManifest(m);
  if (!bad.empty()) return Status::Corruption(file + ": field " + bad);
  return m;
}

Status WriteManifest(Env* env, const std::string& dir, const Manifest& manifest) {
  const std::string bytes = EncodeManifest(manifest);
  const std::string name = ManifestFileName(manifest.generation);
  const std::string tmp = JoinPath(dir, TempFileName(name));
  COWTREE_RETURN_IF_ERROR(env->WriteNewFileSync(tmp, bytes));
  COWTREE_RETURN_IF_ERROR(env->RenameFile(tmp, JoinPath(dir, name)));
  return env->SyncDir(dir);
}

Result<Manifest> ReadManifest(Env* env, const std::string& dir, uint64_t generation,
                              const StoreId& expected) {
  if (generation == 0) return Status::InvalidArgument("ReadManifest: generation 0");
  const std::string name = ManifestFileName(generation);
  const std::string path = JoinPath(dir, name);
  std::string bytes;
  COWTREE_RETURN_IF_ERROR(env->ReadFileToString(path, &bytes));
  COWTREE_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(bytes, path));
  if (m.generation != generation) {
    return Status::Corruption(path + ": field generation: " + std::to_string(m.generation) +
                              ", expected " + std::to_string(generation) + " (the file name's)");
  }
  if (!expected.is_zero() && !(m.store_id == expected)) {
    return Status::Corruption(path + ": field store_id: " + m.store_id.ToHex() +
                              " is not this store's (" + expected.ToHex() +
                              "): the file belongs to another store");
  }
  return m;
}

}  // namespace cowtree
