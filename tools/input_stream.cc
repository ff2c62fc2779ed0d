// InputStream: plain POSIX read() of user input (see the header for why not Env), with zstd
// streaming decompression (ZSTD_decompressStream) when the first bytes are a zstd frame magic.
#include "tools/input_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "persistence/assert.h"

namespace cowtree::tools {
namespace {

constexpr size_t kMagicBytes = 4;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

// True if the 4 little-endian bytes start a zstd frame or a skippable frame.
bool IsZstdMagic(const char* p, size_t n) {
  if (n < kMagicBytes) return false;
  const uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
                     static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8 |
                     static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16 |
                     static_cast<uint32_t>(static_cast<uint8_t>(p[3])) << 24;
  return v == ZSTD_MAGICNUMBER || (v & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}

}  // namespace

InputStream::InputStream(std::string name, int fd, bool owns_fd, size_t block_bytes)
    : name_(std::move(name)),
      fd_(fd),
      owns_fd_(owns_fd),
      block_bytes_(block_bytes),
      in_capacity_(std::max(block_bytes, kMagicBytes)) {
  in_buf_.reset(new char[in_capacity_]);
  struct stat st;
  partial_reads_ = fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode);
}

InputStream::~InputStream() {
  if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
  if (owns_fd_) close(fd_);
}

Result<std::unique_ptr<InputStream>> InputStream::Open(const std::string& path,
                                                       size_t block_bytes) {
  if (block_bytes == 0) return Status::InvalidArgument("InputStream: block_bytes must be > 0");
  if (path != "-") return OpenFile(path, path, block_bytes);
  std::unique_ptr<InputStream> stream(
      new InputStream("<stdin>", STDIN_FILENO, /*owns_fd=*/false, block_bytes));
  COWTREE_RETURN_IF_ERROR(Sniff(stream.get(), /*named_zst=*/false));
  return stream;
}

Result<std::unique_ptr<InputStream>> InputStream::OpenFile(const std::string& path,
                                                           const std::string& name,
                                                           size_t block_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(name + ": no such file");
    return Status::FromErrno("cannot open " + name, errno);
  }
  // Only a hint (fails harmlessly on pipes): doubles the kernel's read-ahead.
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<InputStream> stream(new InputStream(name, fd, /*owns_fd=*/true, block_bytes));
  COWTREE_RETURN_IF_ERROR(Sniff(stream.get(), EndsWith(name, ".zst")));
  return stream;
}

// Sniffs the magic number; the bytes stay in in_buf_ for whichever decoder follows.
Status InputStream::Sniff(InputStream* stream, bool named_zst) {
  size_t sniffed = 0;
  COWTREE_RETURN_IF_ERROR(stream->ReadRaw(stream->in_buf_.get(), kMagicBytes, &sniffed));
  stream->in_size_ = sniffed;
  if (IsZstdMagic(stream->in_buf_.get(), sniffed)) {
    stream->dctx_ = ZSTD_createDCtx();
    if (stream->dctx_ == nullptr) {
      return Status::IOError(stream->name_ + ": cannot allocate a zstd decompression context");
    }
  } else if (named_zst) {
    return Status::Corruption(stream->name_ +
                              ": not zstd-compressed (no zstd magic number at byte offset 0)");
  }
  return Status::OK();
}

Result<std::unique_ptr<InputStream>> InputStream::OpenSameFile() const {
  if (partial_reads_) {
    return Status::InvalidArgument(name_ + ": not a regular file, cannot be read twice");
  }
  return OpenFile("/proc/self/fd/" + std::to_string(fd_), name_, block_bytes_);
}

Status InputStream::WaitForInput() {
  if (!wait_hook_) return Status::OK();
  for (;;) {
    COWTREE_ASSIGN_OR_RETURN(const int timeout_ms, wait_hook_());
    if (timeout_ms < 0) return Status::OK();  // block in read()
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, timeout_ms);
    if (r > 0) return Status::OK();  // readable, end of file or an error read() will report
    if (r < 0 && errno != EINTR) return Status::OK();  // let read() block and report
  }
}

Status InputStream::ReadRaw(char* out, size_t max_bytes, size_t* read_bytes, bool allow_partial) {
  const bool partial = allow_partial && partial_reads_;
  size_t done = 0;
  while (done < max_bytes && !raw_eof_) {
    if (partial && done > 0) break;
    if (partial_reads_) COWTREE_RETURN_IF_ERROR(WaitForInput());
    const ssize_t r = read(fd_, out + done, max_bytes - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + name_ + " at byte offset " + std::to_string(raw_offset_),
                               errno);
    }
    if (r == 0) {
      raw_eof_ = true;
      break;
    }
    done += static_cast<size_t>(r);
    raw_offset_ += static_cast<uint64_t>(r);
  }
  *read_bytes = done;
  return Status::OK();
}

Status InputStream::Read(char* out, size_t max_bytes, size_t* read_bytes) {
  *read_bytes = 0;
  if (max_bytes == 0) return Status::OK();
  return dctx_ != nullptr ? ReadZstd(out, max_bytes, read_bytes)
                          : ReadPlain(out, max_bytes, read_bytes);
}

Status InputStream::ReadPlain(char* out, size_t max_bytes, size_t* read_bytes) {
  // First the sniffed bytes, then straight from the file into the caller's buffer (no copy).
  const size_t buffered = std::min(in_size_ - in_pos_, max_bytes);
  std::memcpy(out, in_buf_.get() + in_pos_, buffered);
  in_pos_ += buffered;
  size_t direct = 0;
  if (buffered > 0 && partial_reads_) {  // deliver the sniffed bytes without waiting for more
    *read_bytes = buffered;
    return Status::OK();
  }
  COWTREE_RETURN_IF_ERROR(
      ReadRaw(out + buffered, max_bytes - buffered, &direct, /*allow_partial=*/true));
  *read_bytes = buffered + direct;
  return Status::OK();
}

Status InputStream::ReadZstd(char* out, size_t max_bytes, size_t* read_bytes) {
  ZSTD_outBuffer output{out, max_bytes, 0};
  while (output.pos < output.size) {
    if (in_pos_ == in_size_ && !raw_eof_) {
      // A slow pipe: hand out what was decoded before waiting for more compressed input.
      if (partial_reads_ && output.pos > 0) break;
      size_t n = 0;
      COWTREE_RETURN_IF_ERROR(ReadRaw(in_buf_.get(), block_bytes_, &n, /*allow_partial=*/true));
      in_pos_ = 0;
      in_size_ = n;
    }
    const bool input_exhausted = in_pos_ == in_size_ && raw_eof_;
    // At end of input with no frame in progress, everything has been delivered.
    if (input_exhausted && frame_remaining_ == 0) break;
    ZSTD_inBuffer input{in_buf_.get(), in_size_, in_pos_};
    const size_t out_before = output.pos;
    const size_t ret = ZSTD_decompressStream(dctx_, &output, &input);
    in_pos_ = input.pos;
    if (ZSTD_isError(ret)) {
      const uint64_t offset = raw_offset_ - (in_size_ - in_pos_);  // where the decoder stopped
      return Status::Corruption(name_ + ": corrupt zstd data near compressed byte offset " +
                                std::to_string(offset) + ": " + ZSTD_getErrorName(ret));
    }
    frame_remaining_ = ret;
    // No progress with all input consumed: the stream ended inside a frame.
    if (input_exhausted && output.pos == out_before && frame_remaining_ != 0) {
      return Status::Corruption(name_ +
                                ": truncated zstd data: input ends inside a frame at "
                                "compressed byte offset " +
                                std::to_string(raw_offset_));
    }
  }
  *read_bytes = output.pos;
  return Status::OK();
}

}  // namespace cowtree::tools
