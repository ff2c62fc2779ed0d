#include "persistence/env.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "persistence/io_uring_probe.h"

namespace cowtree {

bool IoUringAllowed() {
  static const bool allowed = [] {
    const char* v = std::getenv("COWTREE_IO_URING");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return allowed;
}

bool IoUringForGroups() {
  static const bool groups = [] {
    const char* v = std::getenv("COWTREE_IO_URING");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return groups;
}

Status File::WriteZeros(uint64_t offset_bytes, uint64_t length_bytes) {
  static constexpr uint64_t kChunkBytes = 64 << 10;
  static const std::string* const zeros = new std::string(kChunkBytes, '\0');  // never freed
  for (uint64_t done = 0; done < length_bytes;) {
    const uint64_t n = std::min(kChunkBytes, length_bytes - done);
    COWTREE_RETURN_IF_ERROR(
        WriteAt(offset_bytes + done, std::string_view(*zeros).substr(0, static_cast<size_t>(n))));
    done += n;
  }
  return Status::OK();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// *out resized to `size` bytes for a whole-file read of `path` (see env.h ReadFileToString).
Status ResizeForWholeFile(const std::string& path, uint64_t size, std::string* out) {
  // A file whose size no buffer can hold (e.g. a store file extended to 64 GiB by damage) is an
  // error that names it, not std::bad_alloc thrown through the API.
  try {
    out->resize(size);
  } catch (const std::bad_alloc&) {
    return Status::IOError(path + ": cannot read its " + std::to_string(size) +
                               " bytes into memory (far more than a file of this kind holds: "
                               "damaged or not this store's?)",
                           ENOMEM);
  } catch (const std::length_error&) {
    return Status::IOError(path + ": " + std::to_string(size) + " bytes cannot be read whole",
                           ENOMEM);
  }
  return Status::OK();
}

Status Env::ReadFileToString(const std::string& path, std::string* out, uint64_t max_bytes) {
  out->clear();
  COWTREE_ASSIGN_OR_RETURN(auto file, OpenFile(path, OpenMode::kReadOnly));
  COWTREE_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > max_bytes) {
    return Status::Corruption(path + ": " + std::to_string(size) + " bytes, more than the " +
                              std::to_string(max_bytes) + " a file of this kind may have");
  }
  COWTREE_RETURN_IF_ERROR(ResizeForWholeFile(path, size, out));
  size_t got = 0;
  COWTREE_RETURN_IF_ERROR(file->ReadAt(0, size, out->data(), &got));
  out->resize(got);
  return Status::OK();
}

Status Env::WriteStringToFileSync(const std::string& path, std::string_view data) {
  COWTREE_ASSIGN_OR_RETURN(auto file, OpenFile(path, OpenMode::kCreate));
  COWTREE_RETURN_IF_ERROR(file->Truncate(0));
  COWTREE_RETURN_IF_ERROR(file->WriteAt(0, data));
  return file->Sync();
}

Status Env::WriteNewFileSync(const std::string& path, std::string_view data) {
  Status removed = DeleteFile(path);
  if (!removed.ok() && !removed.IsNotFound()) return removed;
  COWTREE_ASSIGN_OR_RETURN(auto file, OpenFile(path, OpenMode::kCreateExclusive));
  COWTREE_RETURN_IF_ERROR(file->WriteAt(0, data));
  return file->Sync();
}

Status CheckPathHasNoNul(const std::string& path, std::string_view what) {
  const size_t nul = path.find('\0');
  if (nul == std::string::npos) return Status::OK();
  return Status::InvalidArgument(std::string(what) + " \"" + path.substr(0, nul) +
                                 "\\0...\" contains a NUL byte");
}

}  // namespace cowtree
