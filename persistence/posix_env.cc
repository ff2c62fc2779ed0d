// The POSIX Env: pread/pwrite/fdatasync/fallocate/mmap/flock, plus an io_uring path for the
// log's write+fdatasync pair (one linked submission, one wait), used only with
// COWTREE_IO_URING (persistence/io_uring_probe.h). io_uring is then tried once per file;
// if io_uring_queue_init fails (old kernel, container seccomp profile) the file falls back to
// plain syscalls for good, and Env::Default()->io_uring_status() reports why.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "persistence/env.h"
#include "persistence/io_uring_probe.h"

#ifdef COWTREE_HAVE_IO_URING
#include <liburing.h>
#endif

namespace cowtree {
namespace {

class PosixMappedRegion final : public MappedRegion {
 public:
  PosixMappedRegion(void* base, size_t map_len, const char* data, size_t size)
      : base_(base), map_len_(map_len), data_(data), size_(size) {}
  ~PosixMappedRegion() override { munmap(base_, map_len_); }
  const char* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* base_;
  size_t map_len_;
  const char* data_;
  size_t size_;
};

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override {
#ifdef COWTREE_HAVE_IO_URING
    if (ring_ready_) io_uring_queue_exit(&ring_);
#endif
    close(fd_);
  }

  Status ReadAt(uint64_t offset, size_t length, char* out, size_t* read_bytes) override {
    size_t done = 0;
    while (done < length) {
      ssize_t r = pread(fd_, out + done, length - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("pread " + path_ + " at offset " + std::to_string(offset + done),
                                 errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    *read_bytes = done;
    return Status::OK();
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t r =
          pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("pwrite " + path_ + " at offset " + std::to_string(offset + done),
                                 errno);
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  Status Sync() override {
    if (fdatasync(fd_) != 0) return Status::FromErrno("fdatasync " + path_, errno);
    return Status::OK();
  }

  Status WriteAtAndSync(uint64_t offset, std::string_view data) override {
    return WriteAndSync(offset, data, IoUringForGroups());
  }

  Status WriteAtAndSyncLone(uint64_t offset, std::string_view data) override {
    return WriteAndSync(offset, data, IoUringAllowed());
  }

  Status StartWriteback(uint64_t offset, uint64_t length) override {
    if (sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                        SYNC_FILE_RANGE_WRITE) != 0) {
      return Status::FromErrno("sync_file_range " + path_, errno);
    }
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (fstat(fd_, &st) != 0) return Status::FromErrno("fstat " + path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status Truncate(uint64_t size) override {
    if (ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return Status::FromErrno("ftruncate " + path_ + " to " + std::to_string(size), errno);
    }
    return Status::OK();
  }

  Status Allocate(uint64_t offset, uint64_t length, bool keep_size) override {
    int mode = keep_size ? FALLOC_FL_KEEP_SIZE : 0;
    if (fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) {
      return Status::OK();
    }
    if (errno == EOPNOTSUPP && !keep_size) {
      // File systems without fallocate: extend with ftruncate (sparse) instead.
      auto size = Size();
      if (!size.ok()) return size.status();
      if (*size < offset + length) return Truncate(offset + length);
      return Status::OK();
    }
    if (errno == EOPNOTSUPP) return Status::OK();  // preallocation is only a hint
    return Status::FromErrno("fallocate " + path_, errno);
  }

  Status PunchHole(uint64_t offset, uint64_t length) override {
    if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0) {
      return Status::OK();
    }
    if (errno == EOPNOTSUPP) return Status::NotSupported("punch hole on " + path_);
    return Status::FromErrno("punch hole " + path_, errno);
  }

  Result<std::unique_ptr<MappedRegion>> Map(uint64_t offset, size_t length) override {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t aligned = offset - offset % page;
    const size_t map_len = length + static_cast<size_t>(offset - aligned);
    void* base = mmap(nullptr, map_len, PROT_READ, MAP_SHARED, fd_, static_cast<off_t>(aligned));
    if (base == MAP_FAILED) return Status::FromErrno("mmap " + path_, errno);
    // Objects are read at random offsets: without this hint every fault reads ahead (up to
    // the device's readahead, often MiBs), which fills the page cache and the process's RSS
    // with pages nobody asked for. Best effort: a failed hint changes nothing else.
    (void)madvise(base, map_len, MADV_RANDOM);
    return std::unique_ptr<MappedRegion>(new PosixMappedRegion(
        base, map_len, static_cast<const char*>(base) + (offset - aligned), length));
  }

  const std::string& path() const override { return path_; }

 private:
  Status WriteAndSync(uint64_t offset, std::string_view data, bool use_ring) {
#ifdef COWTREE_HAVE_IO_URING
    if (use_ring) {
      std::lock_guard<std::mutex> guard(ring_mu_);
      if (!ring_tried_) {
        ring_tried_ = true;
        if (io_uring_queue_init(4, &ring_, 0) == 0) ring_ready_ = true;
      }
      if (ring_ready_ && data.size() <= (1u << 30)) return UringWriteAndSync(offset, data);
    }
#else
    (void)use_ring;
#endif
    COWTREE_RETURN_IF_ERROR(WriteAt(offset, data));
    return Sync();
  }

#ifdef COWTREE_HAVE_IO_URING
  Status UringWriteAndSync(uint64_t offset, std::string_view data) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_write(sqe, fd_, data.data(), static_cast<unsigned>(data.size()), offset);
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 1;
    sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
    sqe->user_data = 2;
    int submitted = io_uring_submit_and_wait(&ring_, 2);
    if (submitted < 0) return Status::FromErrno("io_uring_submit " + path_, -submitted);
    int write_res = 0, sync_res = 0, seen = 0;
    while (seen < 2) {
      io_uring_cqe* cqe = nullptr;
      int r = io_uring_wait_cqe(&ring_, &cqe);
      if (r == -EINTR) continue;
      if (r < 0) return Status::FromErrno("io_uring_wait_cqe " + path_, -r);
      if (cqe->user_data == 1)
        write_res = cqe->res;
      else
        sync_res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      ++seen;
    }
    if (write_res < 0) {
      return Status::FromErrno("io_uring write " + path_ + " at offset " + std::to_string(offset),
                               -write_res);
    }
    if (static_cast<size_t>(write_res) < data.size()) {
      // Short write (rare): finish with pwrite; the linked fsync was cancelled or ran early.
      COWTREE_RETURN_IF_ERROR(WriteAt(offset + static_cast<uint64_t>(write_res),
                                      data.substr(static_cast<size_t>(write_res))));
      return Sync();
    }
    if (sync_res < 0) return Status::FromErrno("io_uring fdatasync " + path_, -sync_res);
    return Status::OK();
  }
  std::mutex ring_mu_;
  bool ring_tried_ = false;
  bool ring_ready_ = false;
  io_uring ring_{};
#endif
  std::string path_;
  int fd_;
};

// The answer to a store file that is a symbolic link: never followed (env.h, OpenMode).
Status SymlinkRefused(const std::string& path) {
  return Status::Corruption(path +
                            ": is a symbolic link; store files must be regular files (a link "
                            "planted in a store directory is never followed)");
}

const char* FileKindName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

Status NotRegularFileRefused(const std::string& path, const char* kind) {
  return Status::Corruption(path + ": is " + std::string(kind) +
                            "; store files must be regular files");
}

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    flock(fd_, LOCK_UN);
    close(fd_);
  }

 private:
  int fd_;
};

// A path with a NUL byte would be cut at it by the system calls (env.h CheckPathHasNoNul).
Status CheckPath(const std::string& path) { return CheckPathHasNoNul(path, "path"); }

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(path));
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kReadOnly:
        flags |= O_RDONLY;
        break;
      case OpenMode::kReadWrite:
        flags |= O_RDWR;
        break;
      case OpenMode::kCreate:
        flags |= O_RDWR | O_CREAT;
        break;
      case OpenMode::kCreateExclusive:
        flags |= O_RDWR | O_CREAT | O_EXCL;
        break;
    }
    // O_NONBLOCK: a FIFO planted under a store file's name must not block the open (for
    // reading it would wait for a writer forever); the check below refuses it, and a regular
    // file ignores the flag (cleared anyway).
    int fd = open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound("open " + path + ": no such file");
      if (errno == ELOOP) return SymlinkRefused(path);
      if (errno == ENXIO) return NotRegularFileRefused(path, "a FIFO with no reader");
      return Status::FromErrno("open " + path, errno);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
      const int err = errno;
      close(fd);
      return Status::FromErrno("fstat " + path, err);
    }
    if (!S_ISREG(st.st_mode)) {
      close(fd);
      return NotRegularFileRefused(path, FileKindName(st.st_mode));
    }
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
      const int err = errno;
      close(fd);
      return Status::FromErrno("fcntl " + path, err);
    }
    return std::unique_ptr<File>(new PosixFile(path, fd));
  }
  Status DeleteFile(const std::string& path) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(path));
    if (unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return Status::NotFound("unlink " + path + ": no such file");
      return Status::FromErrno("unlink " + path, errno);
    }
    return Status::OK();
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(from));
    COWTREE_RETURN_IF_ERROR(CheckPath(to));
    if (rename(from.c_str(), to.c_str()) != 0) {
      return Status::FromErrno("rename " + from + " -> " + to, errno);
    }
    return Status::OK();
  }
  Status SyncDir(const std::string& dir) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(dir));
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open directory " + dir, errno);
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    if (r != 0) return Status::FromErrno("fsync directory " + dir, saved);
    return Status::OK();
  }
  Status CreateDir(const std::string& dir) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(dir));
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno("mkdir " + dir, errno);
    }
    return Status::OK();
  }
  Status ListDir(const std::string& dir, std::vector<std::string>* names) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(dir));
    names->clear();
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return Status::NotFound("opendir " + dir + ": no such directory");
      return Status::FromErrno("opendir " + dir, errno);
    }
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names->push_back(std::move(name));
    }
    closedir(d);
    return Status::OK();
  }
  bool FileExists(const std::string& path) override {
    if (!CheckPath(path).ok()) return false;
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
  }
  Result<uint64_t> FileSize(const std::string& path) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(path));
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::NotFound("stat " + path + ": no such file");
      return Status::FromErrno("stat " + path, errno);
    }
    if (S_ISLNK(st.st_mode)) return SymlinkRefused(path);
    return static_cast<uint64_t>(st.st_size);
  }
  Result<std::unique_ptr<FileLock>> LockDir(const std::string& dir, LockMode mode) override {
    COWTREE_RETURN_IF_ERROR(CheckPath(dir));
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound("open directory " + dir + ": no such directory");
      return Status::FromErrno("open directory " + dir, errno);
    }
    const int op = (mode == LockMode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
    if (flock(fd, op) != 0) {
      int saved = errno;
      close(fd);
      if (saved == EWOULDBLOCK) {
        return Status::Busy(dir + " is locked by another " +
                            (mode == LockMode::kExclusive ? "process (store already open)"
                                                          : "process that writes it"));
      }
      return Status::FromErrno("flock " + dir, saved);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
  uint64_t NowMicros() override {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000;
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

}  // namespace cowtree
