// Env: every file-system operation cowtree performs goes through this interface (LevelDB-style),
// so that testutil/ can inject faults (crash points, lost unsynced writes, torn sectors, EIO,
// ENOSPC, bit flips). The library never calls open/pwrite/fsync directly.
//
// Contract
// - Paths are absolute or relative file-system paths; the store passes "dir/name".
// - All methods return errors as Status values: IOError (with errno text), NoSpace for
//   ENOSPC/EDQUOT, NotFound for a missing file. Nothing throws.
// - Durability: data written with File::WriteAt is durable only after File::Sync() returns OK
//   (fdatasync). A create, rename or delete is durable only after Env::SyncDir() of the parent.
//   After a failed Sync() the unsynced data must be assumed lost; callers never retry it.
// - Thread-safety: Env methods are thread-safe. A File may be used from several threads for
//   positional reads/writes to disjoint ranges; Sync may run concurrently with WriteAt.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/status.h"

namespace cowtree {

// A read-only mapping of [offset, offset + size) of a file. Unmapped on destruction.
class MappedRegion {
 public:
  virtual ~MappedRegion() = default;
  virtual const char* data() const = 0;
  virtual size_t size() const = 0;
};

class File {
 public:
  virtual ~File() = default;
  // Reads up to length_bytes at offset_bytes into out; *read_bytes is less than length_bytes
  // only at end of file.
  virtual Status ReadAt(uint64_t offset_bytes, size_t length_bytes, char* out,
                        size_t* read_bytes) = 0;
  // Writes all of data at offset_bytes (extending the file if needed).
  virtual Status WriteAt(uint64_t offset_bytes, std::string_view data) = 0;
  // fdatasync. On failure the runtime is poisoned; never retried.
  virtual Status Sync() = 0;
  // Writes data at offset_bytes, then fdatasyncs (the log's group commit). The default does
  // WriteAt + Sync; so does the POSIX Env unless COWTREE_IO_URING=1, which submits both as one
  // linked io_uring request (persistence/io_uring_probe.h says why that is opt-in).
  virtual Status WriteAtAndSync(uint64_t offset_bytes, std::string_view data) {
    COWTREE_RETURN_IF_ERROR(WriteAt(offset_bytes, data));
    return Sync();
  }
  // The same, for a caller with no other sync request waiting behind it (the log's lone strict
  // commit). The POSIX Env submits it as one linked io_uring write+fdatasync unless
  // COWTREE_IO_URING=0 (io_uring_probe.h says why only here); the default is WriteAtAndSync.
  virtual Status WriteAtAndSyncLone(uint64_t offset_bytes, std::string_view data) {
    return WriteAtAndSync(offset_bytes, data);
  }
  // Writes length_bytes zero bytes at offset_bytes (extending the file), as ordinary data:
  // durable after Sync, lost like any unsynced write in a crash. The log preallocates with it
  // (log_writer.h): an fdatasync that only overwrites written blocks inside the file's size
  // commits no file-system metadata. Callers may treat a failure as a hint. The default
  // issues WriteAt calls of at most 64 KiB from a shared zero buffer.
  virtual Status WriteZeros(uint64_t offset_bytes, uint64_t length_bytes);
  // Starts writing the dirty pages of [offset_bytes, offset_bytes + length_bytes) back to the
  // device without waiting for them (sync_file_range SYNC_FILE_RANGE_WRITE in the POSIX Env);
  // length_bytes 0 means up to the end of the file, as for sync_file_range.
  // A hint: it makes nothing durable (Sync must still follow) and callers may ignore its
  // errors (the Sync that follows reports a failed write-back). The data files use it so that a
  // checkpoint's fdatasync waits for the tail of its writes rather than all of them
  // (segment_allocator.h "Early write-back"). The default does nothing.
  virtual Status StartWriteback(uint64_t offset_bytes, uint64_t length_bytes) {
    (void)offset_bytes;
    (void)length_bytes;
    return Status::OK();
  }
  virtual Result<uint64_t> Size() = 0;
  virtual Status Truncate(uint64_t size_bytes) = 0;
  // fallocate. keep_size = FALLOC_FL_KEEP_SIZE: reserve blocks without moving the visible end
  // (the log uses it so that a reopened log never appends after a zero tail).
  virtual Status Allocate(uint64_t offset_bytes, uint64_t length_bytes, bool keep_size) = 0;
  // Releases blocks of [offset, offset+length) (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE). Best effort:
  // NotSupported if the file system cannot.
  virtual Status PunchHole(uint64_t offset_bytes, uint64_t length_bytes) = 0;
  // Read-only mapping. offset_bytes must be a multiple of the page size; the range may extend
  // past EOF only if the caller never touches bytes past EOF. Access is random (the POSIX Env
  // maps with MADV_RANDOM: a fault reads only the pages touched, no readahead).
  virtual Result<std::unique_ptr<MappedRegion>> Map(uint64_t offset_bytes, size_t length_bytes) = 0;
  virtual const std::string& path() const = 0;
};

// OpenFile never follows a symbolic link in the last path component (O_NOFOLLOW): a store file
// that is a symlink is refused with Corruption naming it, so a link planted in a store directory
// can never make cowtree read or write a file outside it. (The directory itself may be a link.)
enum class OpenMode : uint8_t {
  kReadOnly,         // must exist
  kReadWrite,        // must exist
  kCreate,           // read-write, create if missing
  kCreateExclusive,  // read-write, fail (IOError EEXIST) if it exists, even as a dangling link
};

enum class LockMode : uint8_t {
  kExclusive,  // one writer: the Runtime (recovery::Open)
  kShared,     // any number of read-only opens (query, dump, fsck without --repair)
};

// Held while the store is open; releasing unlocks.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) = 0;
  virtual Status DeleteFile(const std::string& path) = 0;
  // Atomic rename (replaces `to`).
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // fsync of a directory: makes creates/renames/deletes inside it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status CreateDir(const std::string& dir) = 0;  // OK if it exists
  // Names (not paths) of the entries of dir, without "." and "..".
  virtual Status ListDir(const std::string& dir, std::vector<std::string>* names) = 0;
  // Whether an entry of that name exists (a symlink counts, dangling or not: lstat).
  virtual bool FileExists(const std::string& path) = 0;
  // Size of a regular file; Corruption if the entry is a symbolic link (never followed).
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Advisory lock on the directory `dir` itself (flock LOCK_EX or LOCK_SH, LOCK_NB, on an
  // O_RDONLY|O_DIRECTORY descriptor). Busy if a conflicting holder has it. Locking the directory
  // rather than a file inside it means that deleting, renaming or replacing any file of the store
  // cannot let a second writer in (a LOCK file can be unlinked under its holder: the next opener
  // then locks a new inode). Creates nothing, so it works on a read-only mount. NotFound if dir
  // is missing.
  virtual Result<std::unique_ptr<FileLock>> LockDir(const std::string& dir, LockMode mode) = 0;
  virtual uint64_t NowMicros() = 0;
  // Reads the whole file into *out (convenience built on OpenFile/ReadAt). Corruption if the
  // file has more than max_bytes bytes; IOError (ENOMEM) naming the file if no buffer of its
  // size can be had (never std::bad_alloc).
  Status ReadFileToString(const std::string& path, std::string* out,
                          uint64_t max_bytes = UINT64_MAX);
  // Writes a whole new file: create/truncate, write, fdatasync (no directory sync).
  Status WriteStringToFileSync(const std::string& path, std::string_view data);
  // Writes a temporary file that must be new: removes whatever entry has that name (a symlink
  // is removed itself, never its target), creates it with O_EXCL, writes, fdatasyncs (no
  // directory sync). A link planted under a temporary name can never redirect the write.
  Status WriteNewFileSync(const std::string& path, std::string_view data);

  // The process-wide POSIX Env (io_uring for WriteAtAndSyncLone, and for WriteAtAndSync too
  // with COWTREE_IO_URING=1; see io_uring_probe.h).
  static Env* Default();
};

std::string JoinPath(const std::string& dir, const std::string& name);

// Paths are C strings to the system: one with a NUL byte would be cut at it ("db\0x" names
// "db"). The POSIX Env refuses such paths in every method (InvalidArgument, before anything is
// created or opened), and so do the API entry points that take a path (Store::Open,
// Store::Backup, BulkLoader's spill_dir) whatever the Env. `what` names the path in the
// message.
Status CheckPathHasNoNul(const std::string& path, std::string_view what);

// Resizes *out to `size` bytes for reading the whole of `path` into it: IOError (ENOMEM) naming
// the file and its size when no such buffer can be had (a damaged file extended to 64 GiB), so
// that std::bad_alloc never crosses the API.
Status ResizeForWholeFile(const std::string& path, uint64_t size, std::string* out);

}  // namespace cowtree
